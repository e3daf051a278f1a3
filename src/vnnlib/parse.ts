/**
 * VNN-LIB (the SMT-LIB subset of VNN-COMP 2021–2025) to input boxes and unsafe output regions.
 *
 * Accepted: `(declare-const X_i Real)` / `(declare-const Y_i Real)` (indices 0…n−1, each once),
 * `(assert F)` where F is a comparison `(<= s t)`, `(>= s t)`, `(< s t)`, `(> s t)`, `(= s t)` of
 * linear terms (numbers, variables, `(+ t…)`, `(- t…)`, `(* t…)` with at most one non-constant
 * factor), or `(and F…)` / `(or F…)` of such formulas. The asserts are conjoined and brought to
 * disjunctive normal form; every conjunction must bound each X_i by constants from both sides
 * (atoms over X alone with one variable), and its atoms over Y alone describe the unsafe region.
 * Strict comparisons are read as non-strict (the closure of the unsafe region: a proof of the
 * closure is a proof of the open set; a point on the boundary counts as a counterexample, as in
 * VNN-COMP's checker, which compares with a tolerance). Atoms mixing X and Y are not supported.
 *
 * The tokenizer is one pass over char codes (no regular expressions); line and column are computed
 * only when an error is reported. Errors carry file:line:col and a caret (the diagnostics renderer).
 */
import { readUserFile } from '../base/files.js';
import { gunzipSync } from 'node:zlib';
import { makeDiagnostic } from '../diagnostics/diagnostic.js';
import { Diag } from '../diagnostics/messages.js';
import { renderDiagnostic } from '../diagnostics/render.js';
import { makeSource } from '../diagnostics/source.js';
import { fileError, UserError } from '../base/errors.js';

/** The unsafe region's conjunction `A·y ≤ b` (all rows at once); zero rows: every output. */
export interface Conjunction {
  readonly rows: number;
  /** Row-major [rows, nY]. */
  readonly A: Float64Array;
  readonly b: Float64Array;
}

/** One input box and the outputs that are unsafe for it (a disjunction of conjunctions). */
export interface VnnlibCase {
  readonly lo: Float64Array;
  readonly hi: Float64Array;
  readonly unsafe: readonly Conjunction[];
}

export interface VnnlibProperty {
  readonly nX: number;
  readonly nY: number;
  /** The property is violated iff some case has an input in its box reaching its unsafe region. */
  readonly cases: readonly VnnlibCase[];
}

/** A VNN-LIB error, rendered with the file's position and a caret. */
export class VnnlibError extends UserError {
  constructor(
    readonly rendered: string,
    readonly line: number,
    readonly col: number,
  ) {
    super(rendered);
    this.name = 'VnnlibError';
  }
}

/** DNF products larger than this are refused (they would not fit a verifier anyway). */
export const MAX_DISJUNCTS = 100_000;

const enum T {
  LP,
  RP,
  SYM,
  EOF,
}

interface Atom {
  /** Variable ids: X_i is 2i, Y_i is 2i+1; sorted, merged. */
  readonly vars: number[];
  readonly coefs: number[];
  /** Σ coefs·vars + c ≤ 0. */
  readonly c: number;
  readonly start: number;
  readonly end: number;
}

interface Linear {
  vars: number[];
  coefs: number[];
  c: number;
}

type Dnf = Atom[][];

const isDigit = (c: number): boolean => c >= 48 && c <= 57;

/** Strict decimal/scientific number syntax (`-1`, `0.5`, `.5`, `1e-3`, `1.5E+2`). */
function isNumber(s: string): boolean {
  let i = 0;
  const n = s.length;
  if (s.charCodeAt(0) === 45 || s.charCodeAt(0) === 43) i++;
  let digits = 0;
  while (i < n && isDigit(s.charCodeAt(i))) {
    i++;
    digits++;
  }
  if (i < n && s.charCodeAt(i) === 46) {
    i++;
    while (i < n && isDigit(s.charCodeAt(i))) {
      i++;
      digits++;
    }
  }
  if (digits === 0) return false;
  if (i < n && (s.charCodeAt(i) === 101 || s.charCodeAt(i) === 69)) {
    i++;
    if (i < n && (s.charCodeAt(i) === 45 || s.charCodeAt(i) === 43)) i++;
    let e = 0;
    while (i < n && isDigit(s.charCodeAt(i))) {
      i++;
      e++;
    }
    if (e === 0) return false;
  }
  return i === n;
}

/** `X_12` → 24, `Y_3` → 7; undefined when not of that form. */
function varId(s: string): number | undefined {
  const k = s.charCodeAt(0);
  if ((k !== 88 && k !== 89) || s.charCodeAt(1) !== 95 || s.length < 3) return undefined;
  let v = 0;
  for (let i = 2; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!isDigit(c)) return undefined;
    v = v * 10 + (c - 48);
  }
  if (s.length > 3 && s.charCodeAt(2) === 48) return undefined; // no leading zeros
  return 2 * v + (k === 89 ? 1 : 0);
}

const varName = (id: number): string => `${id % 2 === 1 ? 'Y' : 'X'}_${Math.floor(id / 2)}`;

class Parser {
  private pos = 0;
  private tok: T = T.EOF;
  private tokStart = 0;
  private tokEnd = 0;
  private text = '';
  private readonly declared = new Map<number, number>(); // var id → offset of its declaration
  private readonly used = new Map<number, number>(); // var id → first use

  constructor(
    private readonly src: string,
    private readonly path: string,
  ) {
    this.next();
  }

  fail(start: number, end: number, message: string, help: string[] = [], code = Diag.VnnlibSyntax): never {
    const file = makeSource(this.path, this.src);
    const d = makeDiagnostic(file, code, { start, end }, [message], { help });
    throw new VnnlibError(renderDiagnostic(d), d.line, d.col);
  }

  private next(): void {
    const s = this.src;
    const n = s.length;
    let i = this.pos;
    for (;;) {
      while (i < n) {
        const c = s.charCodeAt(i);
        if (c === 32 || c === 9 || c === 10 || c === 13 || c === 12) i++;
        else break;
      }
      if (i < n && s.charCodeAt(i) === 59) {
        while (i < n && s.charCodeAt(i) !== 10 && s.charCodeAt(i) !== 13) i++;
        continue;
      }
      break;
    }
    this.tokStart = i;
    if (i >= n) {
      this.tok = T.EOF;
      this.tokEnd = i;
      this.pos = i;
      return;
    }
    const c = s.charCodeAt(i);
    if (c === 40 || c === 41) {
      this.tok = c === 40 ? T.LP : T.RP;
      this.tokEnd = this.pos = i + 1;
      return;
    }
    if (c === 124) {
      // |quoted symbol|
      let j = i + 1;
      while (j < n && s.charCodeAt(j) !== 124) j++;
      if (j >= n) this.fail(i, n, 'unterminated quoted symbol');
      this.tok = T.SYM;
      this.text = s.slice(i + 1, j);
      this.tokEnd = this.pos = j + 1;
      return;
    }
    let j = i;
    while (j < n) {
      const d = s.charCodeAt(j);
      if (d === 32 || d === 9 || d === 10 || d === 13 || d === 12 || d === 40 || d === 41 || d === 59) break;
      j++;
    }
    this.tok = T.SYM;
    this.text = s.slice(i, j);
    this.tokEnd = this.pos = j;
  }

  /** The current token's kind (a method, so TypeScript does not narrow it across next()). */
  private peek(): T {
    return this.tok;
  }

  private describe(): string {
    return this.peek() === T.EOF
      ? 'the end of the file'
      : this.peek() === T.LP
        ? "'('"
        : this.peek() === T.RP
          ? "')'"
          : `'${this.text}'`;
  }

  private expect(t: T, what: string): void {
    if (this.peek() !== t)
      this.fail(this.tokStart, this.tokEnd, `expected ${what}, found ${this.describe()}`);
    this.next();
  }

  private symbol(what: string): string {
    if (this.peek() !== T.SYM)
      this.fail(this.tokStart, this.tokEnd, `expected ${what}, found ${this.describe()}`);
    const s = this.text;
    this.next();
    return s;
  }

  /** The whole file: its commands, conjoined asserts in DNF. */
  parse(): VnnlibProperty {
    let dnf: Dnf = [[]];
    while (this.peek() !== T.EOF) {
      const open = this.tokStart;
      this.expect(T.LP, "'(' starting a command");
      const cmdStart = this.tokStart;
      const cmd = this.symbol('a command (declare-const or assert)');
      if (cmd === 'declare-const' || cmd === 'declare-fun') {
        const nameStart = this.tokStart;
        const name = this.symbol('a variable name');
        const id = varId(name);
        if (id === undefined)
          this.fail(nameStart, nameStart + name.length, `unsupported variable name '${name}'`, [
            'VNN-LIB properties name the inputs X_0, X_1, … and the outputs Y_0, Y_1, …',
          ]);
        if (this.declared.has(id))
          this.fail(nameStart, nameStart + name.length, `'${name}' is declared twice`);
        this.declared.set(id, nameStart);
        if (cmd === 'declare-fun') {
          this.expect(T.LP, "'(' (an empty argument list)");
          this.expect(T.RP, "')' (declare-fun of a constant takes no arguments)");
        }
        const sortStart = this.tokStart;
        const sort = this.symbol("the sort 'Real'");
        if (sort !== 'Real')
          this.fail(sortStart, sortStart + sort.length, `unsupported sort '${sort}'`, ["use 'Real'"]);
        this.expect(T.RP, "')' closing the declaration");
      } else if (cmd === 'assert') {
        const f = this.formula();
        this.expect(T.RP, "')' closing the assert");
        dnf = this.conjoin(dnf, f, open);
      } else if (
        cmd === 'check-sat' ||
        cmd === 'get-model' ||
        cmd === 'exit' ||
        cmd === 'set-logic' ||
        cmd === 'set-info'
      ) {
        while (this.peek() !== T.RP && this.peek() !== T.EOF) this.skipTerm();
        this.expect(T.RP, "')'");
      } else {
        this.fail(cmdStart, cmdStart + cmd.length, `unsupported command '${cmd}'`, [
          'VNN-LIB properties use declare-const and assert',
        ]);
      }
    }
    return this.build(dnf);
  }

  private skipTerm(): void {
    if (this.peek() === T.LP) {
      this.next();
      while (this.peek() !== T.RP) {
        if (this.peek() === T.EOF)
          this.fail(this.tokStart, this.tokEnd, "expected ')', found the end of the file");
        this.skipTerm();
      }
    }
    this.next();
  }

  private conjoin(a: Dnf, b: Dnf, at: number): Dnf {
    if (b.length === 1) {
      const extra = b[0]!;
      if (a.length === 1) {
        for (const x of extra) a[0]!.push(x);
        return a;
      }
      return a.map((t) => t.concat(extra));
    }
    if (a.length * b.length > MAX_DISJUNCTS)
      this.fail(
        at,
        at + 1,
        `the property has more than ${MAX_DISJUNCTS} disjuncts in normal form`,
        [],
        Diag.VnnlibUnsupported,
      );
    const out: Dnf = [];
    for (const t of a) for (const u of b) out.push(t.concat(u));
    return out;
  }

  /** A formula in DNF. */
  private formula(): Dnf {
    const start = this.tokStart;
    this.expect(T.LP, "'(' starting a formula");
    const opStart = this.tokStart;
    const op = this.symbol('and, or or a comparison');
    let out: Dnf;
    if (op === 'and') {
      out = [[]];
      while (this.peek() !== T.RP) {
        if (this.peek() === T.EOF)
          this.fail(this.tokStart, this.tokEnd, "expected ')' closing 'and', found the end of the file");
        out = this.conjoin(out, this.formula(), start);
      }
    } else if (op === 'or') {
      out = [];
      while (this.peek() !== T.RP) {
        if (this.peek() === T.EOF)
          this.fail(this.tokStart, this.tokEnd, "expected ')' closing 'or', found the end of the file");
        for (const t of this.formula()) out.push(t);
        if (out.length > MAX_DISJUNCTS)
          this.fail(
            start,
            start + 1,
            `the property has more than ${MAX_DISJUNCTS} disjuncts in normal form`,
            [],
            Diag.VnnlibUnsupported,
          );
      }
    } else if (op === '<=' || op === '>=' || op === '<' || op === '>' || op === '=') {
      const lhs = this.term();
      const rhs = this.term();
      const end = this.tokEnd;
      // lhs ≤ rhs ⇔ lhs − rhs ≤ 0
      const le = (a: Linear, b: Linear): Atom => this.atom(a, b, start, end);
      if (op === '<=' || op === '<') out = [[le(lhs, rhs)]];
      else if (op === '>=' || op === '>') out = [[le(rhs, lhs)]];
      else out = [[le(lhs, rhs), le(rhs, lhs)]];
      if (this.peek() !== T.RP)
        this.fail(
          this.tokStart,
          this.tokEnd,
          `expected ')' closing '${op}' (comparisons take two terms), found ${this.describe()}`,
        );
    } else {
      this.fail(
        opStart,
        opStart + op.length,
        `unsupported formula '${op}'`,
        ['supported: and, or, <=, >=, <, >, = of linear terms'],
        Diag.VnnlibUnsupported,
      );
    }
    this.expect(T.RP, "')'");
    return out;
  }

  private atom(a: Linear, b: Linear, start: number, end: number): Atom {
    const m = new Map<number, number>();
    for (let i = 0; i < a.vars.length; i++) m.set(a.vars[i]!, (m.get(a.vars[i]!) ?? 0) + a.coefs[i]!);
    for (let i = 0; i < b.vars.length; i++) m.set(b.vars[i]!, (m.get(b.vars[i]!) ?? 0) - b.coefs[i]!);
    const vars = [...m.keys()].filter((v) => m.get(v) !== 0).sort((x, y) => x - y);
    return { vars, coefs: vars.map((v) => m.get(v)!), c: a.c - b.c, start, end };
  }

  /** A linear term. */
  private term(): Linear {
    const start = this.tokStart;
    if (this.peek() === T.SYM) {
      const s = this.text;
      this.next();
      if (isNumber(s)) {
        const v = Number(s);
        if (!Number.isFinite(v)) this.fail(start, start + s.length, `the number '${s}' is not finite`);
        return { vars: [], coefs: [], c: v };
      }
      const id = varId(s);
      if (id === undefined)
        this.fail(start, start + s.length, `expected a number or a variable X_i/Y_i, found '${s}'`);
      if (!this.used.has(id)) this.used.set(id, start);
      return { vars: [id], coefs: [1], c: 0 };
    }
    this.expect(T.LP, 'a term');
    const opStart = this.tokStart;
    const op = this.symbol('+, - or *');
    const args: Linear[] = [];
    while (this.peek() !== T.RP) {
      if (this.peek() === T.EOF)
        this.fail(this.tokStart, this.tokEnd, `expected ')' closing '${op}', found the end of the file`);
      args.push(this.term());
    }
    const end = this.tokEnd;
    this.next();
    if (args.length === 0) this.fail(start, end, `'${op}' needs at least one argument`);
    if (op === '+' || op === '-') {
      const out: Linear = { vars: [], coefs: [], c: 0 };
      args.forEach((t, k) => {
        const sign = op === '-' && (k > 0 || args.length === 1) ? -1 : 1;
        out.c += sign * t.c;
        for (let i = 0; i < t.vars.length; i++) {
          out.vars.push(t.vars[i]!);
          out.coefs.push(sign * t.coefs[i]!);
        }
      });
      return out;
    }
    if (op === '*') {
      let scale = 1;
      let lin: Linear | undefined;
      for (const t of args) {
        if (t.vars.length === 0) scale *= t.c;
        else if (lin)
          this.fail(start, end, 'a product of two variables is not linear', [], Diag.VnnlibUnsupported);
        else lin = t;
      }
      if (!lin) return { vars: [], coefs: [], c: scale };
      return { vars: lin.vars, coefs: lin.coefs.map((c) => c * scale), c: lin.c * scale };
    }
    return this.fail(
      opStart,
      opStart + op.length,
      `unsupported term '${op}'`,
      ['supported: +, -, * with constants'],
      Diag.VnnlibUnsupported,
    );
  }

  /** Checks the declarations and splits each conjunction into an input box and output rows. */
  private build(dnf: Dnf): VnnlibProperty {
    for (const [id, at] of this.used)
      if (!this.declared.has(id)) this.fail(at, at + varName(id).length, `'${varName(id)}' is not declared`);
    let nX = 0;
    let nY = 0;
    for (const id of this.declared.keys()) {
      const i = Math.floor(id / 2);
      if (id % 2 === 1) nY = Math.max(nY, i + 1);
      else nX = Math.max(nX, i + 1);
    }
    for (const [n, k] of [
      [nX, 0],
      [nY, 1],
    ] as const)
      for (let i = 0; i < n; i++)
        if (!this.declared.has(2 * i + k)) {
          const at = this.declared.get(2 * (n - 1) + k)!;
          this.fail(
            at,
            at + varName(2 * (n - 1) + k).length,
            `'${varName(2 * i + k)}' is not declared, but '${varName(2 * (n - 1) + k)}' is`,
            ['inputs and outputs are numbered from 0 without gaps'],
          );
        }
    if (nX === 0) this.fail(0, 0, 'the property declares no input X_0, X_1, …');
    if (nY === 0) this.fail(0, 0, 'the property declares no output Y_0, Y_1, …');
    const cases = new Map<string, { lo: Float64Array; hi: Float64Array; unsafe: Conjunction[] }>();
    for (const term of dnf) {
      const lo = new Float64Array(nX).fill(-Infinity);
      const hi = new Float64Array(nX).fill(Infinity);
      const rows: Atom[] = [];
      let empty = false;
      for (const a of term) {
        if (a.vars.length === 0) {
          if (a.c > 0) empty = true; // a false constant comparison
          continue;
        }
        const hasX = a.vars.some((v) => v % 2 === 0);
        const hasY = a.vars.some((v) => v % 2 === 1);
        if (hasX && hasY)
          this.fail(
            a.start,
            a.end,
            'a constraint mixing inputs X and outputs Y is not supported',
            ['VNN-LIB input constraints bound each X_i by constants; output constraints use only Y'],
            Diag.VnnlibUnsupported,
          );
        if (hasY) {
          rows.push(a);
          continue;
        }
        if (a.vars.length > 1)
          this.fail(
            a.start,
            a.end,
            'an input constraint over several variables is not supported',
            ['input constraints must be boxes: (<= X_i c) and (>= X_i c)'],
            Diag.VnnlibUnsupported,
          );
        const i = a.vars[0]! / 2;
        const bound = -a.c / a.coefs[0]!;
        if (a.coefs[0]! > 0) hi[i] = Math.min(hi[i]!, bound);
        else lo[i] = Math.max(lo[i]!, bound);
      }
      if (empty) continue;
      for (let i = 0; i < nX; i++)
        if (!Number.isFinite(lo[i]!) || !Number.isFinite(hi[i]!)) {
          const at = this.declared.get(2 * i)!;
          this.fail(
            at,
            at + varName(2 * i).length,
            `input 'X_${i}' has no ${Number.isFinite(lo[i]!) ? 'upper' : 'lower'} bound${dnf.length > 1 ? ' in some disjunct' : ''}`,
            ['every input needs (>= X_i lo) and (<= X_i hi)'],
            Diag.VnnlibUnsupported,
          );
        }
      let emptyBox = false;
      for (let i = 0; i < nX; i++) if (lo[i]! > hi[i]!) emptyBox = true;
      if (emptyBox) continue;
      const A = new Float64Array(rows.length * nY);
      const b = new Float64Array(rows.length);
      rows.forEach((r, k) => {
        for (let j = 0; j < r.vars.length; j++) A[k * nY + (r.vars[j]! - 1) / 2] = r.coefs[j]!;
        b[k] = 0 - r.c;
      });
      const key = boxKey(lo, hi);
      let c = cases.get(key);
      if (!c) cases.set(key, (c = { lo, hi, unsafe: [] }));
      c.unsafe.push({ rows: rows.length, A, b });
    }
    return { nX, nY, cases: [...cases.values()] };
  }
}

function boxKey(lo: Float64Array, hi: Float64Array): string {
  // exact doubles: the same box written twice gives the same key
  const parts: string[] = [];
  for (let i = 0; i < lo.length; i++) parts.push(`${lo[i]}:${hi[i]}`);
  return parts.join(',');
}

/** Parses VNN-LIB text; `path` is only used in error messages. */
export function parseVnnlib(text: string, path: string): VnnlibProperty {
  return new Parser(text, path).parse();
}

/** Reads `.vnnlib` or gzip-compressed `.vnnlib.gz` (detected by its magic bytes). */
export function readMaybeGzip(path: string): Buffer {
  const bytes = readUserFile(path);
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      return gunzipSync(bytes);
    } catch (e) {
      throw fileError(path, `not a valid gzip file (${(e as Error).message})`);
    }
  }
  return bytes;
}

/** Reads and parses a VNN-LIB file. */
export function readVnnlib(path: string): VnnlibProperty {
  const bytes = readMaybeGzip(path);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw fileError(path, 'not UTF-8 text');
  }
  return parseVnnlib(text, path);
}

/** Whether y lies in the conjunction (A·y ≤ b + tol). */
export function inConjunction(c: Conjunction, y: ArrayLike<number>, tol = 0): boolean {
  const nY = y.length;
  for (let r = 0; r < c.rows; r++) {
    let s = 0;
    for (let j = 0; j < nY; j++) s += c.A[r * nY + j]! * y[j]!;
    if (s > c.b[r]! + tol) return false;
  }
  return true;
}
