/**
 * `vnet check-certificates`: re-checks a certificate file (the JSON lines of `vnet verify
 * --certificates`) against a spec and a weight file with the rigorous binary64 checker only:
 * plain JavaScript on Float64Arrays, no TensorFlow.js backend or tensor op (tfjs-core is only
 * loaded as a dependency of shared modules: runtime/num.ts, the safetensors codec), no float32
 * bound code, none of the evaluation loop that wrote the file. What a
 * line claims, and what holds means (docs/soundness.md, "Checking certificates"):
 *
 * - it names the network: `specHash` is the sha256 of the spec's text, `weightsHash` that of the
 *   weight file (a certificate of other weights is not checked further);
 * - it names the sample: `index` in the data set's `split` (test by default), with `label`, and
 *   `sampleHash` (sha256 of its float32 bytes as loaded) where the writer recorded it;
 * - `verified: true` claims every margin z_label − z_j > 0 on the L∞ ball of radius `eps`
 *   (clipped to the domain): it holds iff the rigorous bounds recomputed here are all > 0;
 * - `rigorousLower` (sound binary64 lower bounds) holds iff each is ≤ the bound recomputed here
 *   (the checker runs every rigorous pass the writer's cascade can run, so an honest file is
 *   matched exactly);
 * - `marginLower` (the method's float32 bounds, not themselves sound in floating point) holds iff
 *   each exceeds no rigorous bound by more than the tolerance (float32 rounding, 1e-4 relative):
 *   a float32 bound that no rigorous pass comes near is not a bound vnet computed.
 * Every line that does not hold is reported with all its reasons.
 */
import { readFileSync } from 'node:fs';
import type { BoundMethod, LineStrategy } from '../../ir/ir.js';
import { BOUND_METHODS, LINE_STRATEGIES } from '../../semantics/recipe.js';
import { fileError, UserError } from '../../base/errors.js';
import { hwcToChw } from '../../runtime/layout.js';
import { loadEvalSplit, type EvalSplit, type LoadedSplit } from '../data.js';
import { rigorousMargins, type RigorousMethod } from './bounds.js';
import { loadRigorous, sha256Bytes, type LoadedRigorous } from './load.js';

/** How far a float32 margin bound may exceed the best rigorous one: tol·max(1, |rigorous|). */
export const FLOAT32_TOLERANCE = 1e-4;

/** One certificate as the checker reads it. */
export interface CheckedClaim {
  readonly specHash: string;
  readonly weightsHash: string;
  readonly index: number;
  readonly label: number;
  readonly split: EvalSplit;
  readonly sampleHash?: string;
  readonly method: BoundMethod;
  readonly lines: LineStrategy;
  readonly eps: number;
  readonly marginLower: readonly (number | null)[];
  readonly rigorousLower: readonly (number | null)[] | null;
  readonly verified: boolean;
}

/** A line that does not hold: where, which certificate, and every reason. */
export interface Failure {
  readonly line: number;
  /** `sample 3, crown-ibp, tight lines, ε=0.1` (or empty when the line is not a certificate). */
  readonly what: string;
  readonly reasons: readonly string[];
}

export interface CheckReport {
  readonly file: string;
  readonly specHash: string;
  readonly weightsHash: string;
  readonly total: number;
  readonly holding: number;
  /** Lines claiming `verified: true` that hold. */
  readonly verifiedHolding: number;
  readonly failures: readonly Failure[];
  /**
   * The largest (float32 margin bound − best rigorous bound) / max(1, |rigorous|) over the
   * certificates checked (−∞ when none): how close honest float32 bounds come to the tolerance.
   */
  readonly float32Excess: number;
  /** Rigorous passes run (cached per sample, ε and pass). */
  readonly passes: number;
  readonly seconds: number;
}

export interface CheckOptions {
  readonly specPath: string;
  readonly weightsPath: string;
  /** Data set directory (default: the usual locations). */
  readonly dataDir?: string;
  readonly tolerance?: number;
  /** Called after each certificate with the number done and the total. */
  readonly onProgress?: (done: number, total: number) => void;
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const isHash = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);
const j = (v: unknown): string => {
  const s = JSON.stringify(v) ?? 'undefined';
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
};

/** A list of K − 1 numbers or nulls, or why not. */
function boundList(v: unknown, name: string, K: number): (number | null)[] | string {
  if (!Array.isArray(v) || v.length !== K - 1)
    return `"${name}" has ${Array.isArray(v) ? v.length : 'no'} entries, expected ${K - 1}`;
  const bad = v.findIndex((x) => x !== null && (typeof x !== 'number' || !Number.isFinite(x)));
  if (bad >= 0) return `"${name}"[${bad}] ${j(v[bad])} is neither a finite number nor null`;
  return v as (number | null)[];
}

/** Reads one line's certificate for a network with K classes, or the reasons it is not one. */
export function readClaim(v: unknown, K: number): CheckedClaim | string[] {
  if (!isObj(v)) return ['not a JSON object'];
  const why: string[] = [];
  const { specHash, weightsHash, index, label, split, sampleHash, method, lines, eps, verified } = v;
  if (!isHash(specHash)) why.push(`"specHash" ${j(specHash)} is not a sha256 (64 hex digits)`);
  if (!isHash(weightsHash)) why.push(`"weightsHash" ${j(weightsHash)} is not a sha256 (64 hex digits)`);
  if (!isInt(index) || index < 0) why.push(`"index" ${j(index)} is not a sample index ≥ 0`);
  if (!isInt(label) || label < 0 || label >= K)
    why.push(`"label" ${j(label)} is not a class of this network (0…${K - 1})`);
  if (split !== undefined && split !== 'test' && split !== 'val')
    why.push(`"split" ${j(split)} is not test or val`);
  if (sampleHash !== undefined && !isHash(sampleHash))
    why.push(`"sampleHash" ${j(sampleHash)} is not a sha256 (64 hex digits)`);
  if (typeof method !== 'string' || !(BOUND_METHODS as readonly string[]).includes(method))
    why.push(`"method" ${j(method)} is not one of ${BOUND_METHODS.join(', ')}`);
  if (typeof lines !== 'string' || !(LINE_STRATEGIES as readonly string[]).includes(lines))
    why.push(`"lines" ${j(lines)} is not one of ${LINE_STRATEGIES.join(', ')}`);
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0)
    why.push(`"eps" ${j(eps)} is not a radius ≥ 0`);
  if (typeof verified !== 'boolean') why.push(`"verified" ${j(verified)} is not true or false`);
  if (isInt(label) && label >= 0 && label < K) {
    const want = Array.from({ length: K }, (_, c) => c).filter((c) => c !== label);
    const mc = v['marginClasses'];
    if (!Array.isArray(mc) || mc.length !== want.length || mc.some((c, i) => c !== want[i]))
      why.push(`"marginClasses" ${j(mc)} is not [${want.join(', ')}] (the classes ≠ label ${label})`);
  }
  const ml = boundList(v['marginLower'], 'marginLower', K);
  if (typeof ml === 'string') why.push(ml);
  const rl =
    v['rigorousLower'] === null || v['rigorousLower'] === undefined
      ? null
      : boundList(v['rigorousLower'], 'rigorousLower', K);
  if (typeof rl === 'string') why.push(rl);
  if (why.length) return why;
  return {
    specHash: specHash as string,
    weightsHash: weightsHash as string,
    index: index as number,
    label: label as number,
    split: (split ?? 'test') as EvalSplit,
    ...(sampleHash !== undefined ? { sampleHash: sampleHash as string } : {}),
    method: method as BoundMethod,
    lines: lines as LineStrategy,
    eps: eps as number,
    marginLower: ml as (number | null)[],
    rigorousLower: rl as (number | null)[] | null,
    verified: verified as boolean,
  };
}

/**
 * The rigorous passes the checker runs for a claim: IBP, and for every other method CROWN with
 * IBP and with CROWN intermediate bounds, with the claim's line strategy as slope hints. A
 * superset of the confirmation cascade (confirm.ts `cascade`), with the same options.
 */
export function checkPasses(method: BoundMethod, lines: LineStrategy): [RigorousMethod, LineStrategy][] {
  if (method === 'ibp') return [['ibp', 'tight']];
  return [
    ['ibp', 'tight'],
    ['crown-ibp', lines],
    ['crown', lines],
  ];
}

const short = (h: string): string => `${h.slice(0, 12)}…`;
const describe = (c: CheckedClaim): string => `sample ${c.index}, ${c.method}, ${c.lines} lines, ε=${c.eps}`;

/** The claims of one certificate against the recomputed rigorous bounds `R`; the reasons it fails. */
export function claimFailures(
  c: CheckedClaim,
  R: Float64Array,
  classes: readonly number[],
  tol: number,
): string[] {
  const why: string[] = [];
  if (c.verified) {
    const bad = Array.from(R, (r, k) => [r, k] as const).filter(([r]) => !(r > 0));
    if (bad.length)
      why.push(
        `claims verified, but the rigorous margin lower bound is not > 0 vs ${bad.map(([r, k]) => `class ${classes[k]} (${r})`).join(', ')}`,
      );
    const nul = c.marginLower.findIndex((x) => x === null);
    if (nul >= 0) why.push(`claims verified with a non-finite margin bound vs class ${classes[nul]}`);
  }
  const over: string[] = [];
  c.rigorousLower?.forEach((x, k) => {
    if (x !== null && !(x <= R[k]!)) over.push(`class ${classes[k]} (${x} > ${R[k]})`);
  });
  if (over.length)
    why.push(`rigorous margin lower bound above what the checker proves vs ${over.join(', ')}`);
  const far: string[] = [];
  c.marginLower.forEach((x, k) => {
    const r = R[k]!;
    if (x !== null && !(x <= r + tol * Math.max(1, Math.abs(r))))
      far.push(`class ${classes[k]} (${x} > ${r})`);
  });
  if (far.length)
    why.push(
      `margin lower bound above every rigorous bound by more than float32 rounding vs ${far.join(', ')}`,
    );
  return why;
}

/** The samples of one split, with dataset index → position. */
interface SplitSamples {
  readonly data: LoadedSplit;
  readonly at: Map<number, number>;
  readonly per: number;
}

/** Checks every line of certificate file `file`; UserErrors for files that cannot be read at all. */
export async function checkCertificateFile(file: string, o: CheckOptions): Promise<CheckReport> {
  const t0 = performance.now();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw fileError(
      file,
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory'
          : `cannot read (${(e as Error).message})`,
    );
  }
  const r: LoadedRigorous = loadRigorous(o.specPath, o.weightsPath);
  if (r.net.unsupported !== undefined)
    throw new UserError(`cannot check certificates of ${o.specPath}: ${r.net.unsupported}`, [
      'its `vnet verify` verdicts are float32 verdicts, not confirmed (docs/soundness.md)',
    ]);
  const K = r.model.classes;
  const tol = o.tolerance ?? FLOAT32_TOLERANCE;

  const lines = text.split('\n');
  const parsed: { line: number; claim?: CheckedClaim; reasons?: string[] }[] = [];
  lines.forEach((raw, i) => {
    if (raw.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (e) {
      parsed.push({ line: i + 1, reasons: [`not valid JSON (${(e as Error).message})`] });
      return;
    }
    const c = readClaim(v, K);
    if (Array.isArray(c)) parsed.push({ line: i + 1, reasons: c });
    else parsed.push({ line: i + 1, claim: c });
  });
  if (parsed.length === 0) throw fileError(file, 'holds no certificates (no non-empty line)');
  if (!parsed.some((p) => p.claim))
    throw fileError(file, `is not a certificate file (line ${parsed[0]!.line}: ${parsed[0]!.reasons![0]})`, [
      'certificate files are written by `vnet verify --certificates FILE` (one JSON object per line)',
    ]);

  // the samples of each split the certificates name
  const splits = new Map<EvalSplit, SplitSamples>();
  const samplesOf = async (split: EvalSplit): Promise<SplitSamples> => {
    let s = splits.get(split);
    if (!s) {
      const data = await loadEvalSplit(r.model, {
        split,
        command: 'check-certificates',
        ...(o.dataDir !== undefined ? { dir: o.dataDir } : {}),
      });
      const at = new Map<number, number>();
      data.indices.forEach((index, p) => at.set(index, p));
      s = { data, at, per: data.x.length / Math.max(1, data.labels.length) };
      splits.set(split, s);
    }
    return s;
  };
  const shape = r.net.input.shape;
  const toTorch = (x: Float32Array): Float32Array =>
    shape.length === 3 ? hwcToChw(x, shape[0]!, shape[1]!, shape[2]!) : x;

  const cache = new Map<string, Float64Array>();
  const failures: Failure[] = [];
  let holding = 0;
  let verifiedHolding = 0;
  let float32Excess = -Infinity;
  let done = 0;
  let yielded = performance.now();
  for (const p of parsed) {
    // the passes are synchronous: let the event loop run now and then (progress, signals, RPC)
    if (performance.now() - yielded > 100) {
      await new Promise((r) => setImmediate(r));
      yielded = performance.now();
    }
    const fail = (what: string, reasons: readonly string[]): void =>
      void failures.push({ line: p.line, what, reasons });
    const c = p.claim;
    if (!c) fail('', p.reasons!);
    else {
      const why: string[] = [];
      if (c.specHash !== r.specHash)
        why.push(`specHash ${short(c.specHash)} is not the sha256 of ${o.specPath} (${short(r.specHash)})`);
      if (c.weightsHash !== r.weightsHash)
        why.push(
          `weightsHash ${short(c.weightsHash)} is not the sha256 of ${o.weightsPath} (${short(r.weightsHash)})`,
        );
      let x: Float32Array | undefined;
      if (why.length === 0) {
        const s = await samplesOf(c.split);
        const at = s.at.get(c.index);
        if (at === undefined)
          why.push(
            `sample ${c.index} is not in the ${c.split} split (${s.data.labels.length} samples, ${s.data.source})`,
          );
        else {
          x = s.data.x.subarray(at * s.per, (at + 1) * s.per);
          if (s.data.labels[at] !== c.label)
            why.push(
              `label is ${c.label}, but sample ${c.index} of the ${c.split} split is labelled ${s.data.labels[at]}`,
            );
          const h = sha256Bytes(new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
          if (c.sampleHash !== undefined && c.sampleHash !== h)
            why.push(
              `sampleHash ${short(c.sampleHash)} is not that of sample ${c.index} of ${s.data.source} (${short(h)})`,
            );
        }
      }
      if (why.length === 0 && x) {
        const torch = toTorch(x);
        const R = new Float64Array(K - 1).fill(-Infinity);
        for (const [m, l] of checkPasses(c.method, c.lines)) {
          const key = `${c.split}|${c.index}|${c.eps}|${m}/${l}`;
          let got = cache.get(key);
          if (!got) {
            got = rigorousMargins(r.net, torch, c.eps, c.label, m, { lines: l, intersect: l === 'tight' });
            cache.set(key, got);
          }
          for (let k = 0; k < R.length; k++) R[k] = Math.max(R[k]!, got[k]!);
        }
        c.marginLower.forEach((v, k) => {
          if (v !== null) float32Excess = Math.max(float32Excess, (v - R[k]!) / Math.max(1, Math.abs(R[k]!)));
        });
        const classes = Array.from({ length: K }, (_, q) => q).filter((q) => q !== c.label);
        why.push(...claimFailures(c, R, classes, tol));
      }
      if (why.length) fail(describe(c), why);
      else {
        holding++;
        if (c.verified) verifiedHolding++;
      }
    }
    o.onProgress?.(++done, parsed.length);
  }
  return {
    file,
    specHash: r.specHash,
    weightsHash: r.weightsHash,
    total: parsed.length,
    holding,
    verifiedHolding,
    failures,
    float32Excess,
    passes: cache.size,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** One line per failing certificate: where it is, which it is, and why. */
export function formatFailure(f: Failure): string {
  return `line ${f.line}${f.what ? ` (${f.what})` : ''}: ${f.reasons.join('; ')}`;
}
