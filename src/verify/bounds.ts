/**
 * Certified bounds for given inputs (`vnet bounds`): reading and validating an input file (rows
 * are flattened C,H,W inputs in the spec's raw domain, as in PyTorch), computing the bounds batch by
 * batch, and the readable and JSON forms of the result.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { fileError } from '../base/errors.js';
import { closest } from '../util/suggest.js';
import type { BoundMethod, LineStrategy } from '../ir/ir.js';
import type { ModuleMeta } from '../runtime/module.js';
import { chwToHwc, hwcToChw } from '../runtime/layout.js';
import { inputBox } from '../runtime/input.js';
import { evalOptions, tidyResult, type loadNetwork } from './model.js';
import { alphaCrownRows } from '../complete/alpha-bounds.js';
import { forward } from '../complete/crown.js';
import type { SeqNet } from '../complete/onnx-net.js';

/** Validated inputs: rows in the runtime's internal layout. */
export interface BoundsInput {
  readonly n: number;
  readonly x: Float32Array;
  readonly labels?: Int32Array;
}

const MAX_LISTED = 8;

/**
 * Reads and validates an input file against a network: shape of the JSON, row width, finite
 * values inside the input domain, integer labels in [0, K). Every problem (up to a few per file)
 * is listed in one UserError naming the file.
 */
export function parseBoundsInput(path: string, meta: ModuleMeta): BoundsInput {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw fileError(path, code === 'ENOENT' ? 'no such file' : `cannot read (${(e as Error).message})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    const nonFinite = /(^|[^"\w])-?(NaN|Infinity)\b/.test(text);
    throw fileError(
      path,
      nonFinite
        ? 'contains NaN or Infinity, which are not valid JSON (and not valid inputs)'
        : `not valid JSON (${(e as Error).message})`,
    );
  }
  const form = 'expected {"x": [[...], ...], "labels": [...]} with one flattened C,H,W input per row of x';
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw fileError(path, form);
  const obj = doc as Record<string, unknown>;
  const problems: string[] = [];
  for (const k of Object.keys(obj))
    if (k !== 'x' && k !== 'labels') {
      const near = closest(k, ['x', 'labels']);
      problems.push(`unknown key '${k}'${near ? ` (did you mean '${near}'?)` : ''}`);
    }
  const rows = obj['x'];
  if (!Array.isArray(rows) || rows.length === 0)
    throw fileError(path, `${rows === undefined ? 'no "x"' : '"x" is not a non-empty list'}: ${form}`);
  const shape = meta.input.shape;
  const width = shape.reduce((p, q) => p * q, 1);
  const [lo, hi] = meta.input.domain;
  const n = rows.length;
  const flat = new Float32Array(n * width);
  rows.forEach((row: unknown, i) => {
    if (!Array.isArray(row)) return problems.push(`x[${i}] is not a list of numbers`);
    if (row.length !== width)
      return problems.push(
        `x[${i}] has ${row.length} values; the input ${shape.join('x')} needs ${width} (flattened C,H,W)`,
      );
    row.forEach((v: unknown, j) => {
      if (typeof v !== 'number' || !Number.isFinite(v))
        problems.push(`x[${i}][${j}] = ${JSON.stringify(v)} is not a finite number`);
      else if (v < lo || v > hi)
        problems.push(`x[${i}][${j}] = ${v} is outside the input domain [${lo}, ${hi}]`);
      else flat[i * width + j] = v;
    });
  });
  let labels: Int32Array | undefined;
  const lab = obj['labels'];
  if (lab !== undefined) {
    const K = meta.classes;
    if (!Array.isArray(lab)) problems.push('"labels" is not a list');
    else {
      if (lab.length !== n) problems.push(`"labels" has ${lab.length} entries for ${n} rows of x`);
      lab.forEach((v: unknown, i) => {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= K)
          problems.push(`labels[${i}] = ${JSON.stringify(v)} is not a class index 0..${K - 1}`);
      });
      labels = Int32Array.from(lab as number[]);
    }
  }
  if (problems.length) {
    const shown = problems.slice(0, MAX_LISTED).map((p) => `  - ${p}`);
    if (problems.length > MAX_LISTED) shown.push(`  - … and ${problems.length - MAX_LISTED} more`);
    const help =
      problems.some((p) => p.includes('outside the input domain')) && hi <= 1
        ? [
            "inputs are raw values in the spec's domain: scale pixels to [0, 1] (divide by 255); the network normalises itself",
          ]
        : [];
    throw fileError(
      path,
      `invalid input (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${shown.join('\n')}`,
      help,
    );
  }
  const x = shape.length === 3 ? chwToHwc(flat, shape[0]!, shape[1]!, shape[2]!) : flat;
  return labels ? { n, x, labels } : { n, x };
}

/** One activation layer's pre-activation bounds, rows flattened in C,H,W order. */
interface LayerJson {
  readonly layer: string;
  readonly shape: readonly number[];
  readonly lower: number[][];
  readonly upper: number[][];
}

/** What `vnet bounds --json` prints. */
export interface BoundsJson {
  /** A generated module's method, or alpha-crown (the float64 complete verifier). */
  readonly method: BoundMethod | 'alpha-crown';
  readonly lines: LineStrategy;
  readonly eps: number;
  /** The tfjs backend that computed the bounds (its description). */
  readonly backend: string;
  /** Inputs per batch. */
  readonly batch: number;
  /** Wall-clock seconds of the bound computation (all batches, reads included). */
  readonly seconds: number;
  /** `margin`: rows are z_y − z_j for j ≠ y ascending; `logits`: rows are z_0..z_{K−1}. */
  readonly spec: 'margin' | 'logits';
  readonly lower: number[][];
  readonly upper: number[][];
  readonly logits: number[][];
  readonly labels?: number[];
  /** With labels: every margin lower bound > 0. */
  readonly verified?: boolean[];
  readonly intermediate?: LayerJson[];
}

const rowsOf = (data: Float32Array, n: number): number[][] => {
  const w = data.length / n;
  return Array.from({ length: n }, (_, i) => Array.from(data.subarray(i * w, (i + 1) * w)));
};

/** Computes the bounds of all inputs, batch by batch (reads tensors asynchronously: every backend). */
export async function computeBounds(
  mod: Awaited<ReturnType<typeof loadNetwork>>['mod'],
  params: Awaited<ReturnType<typeof loadNetwork>>['params'],
  input: BoundsInput,
  eps: number,
  method: BoundMethod,
  lines: LineStrategy,
  intermediate: boolean,
  batch: number,
  backend: string,
): Promise<BoundsJson> {
  const t0 = performance.now();
  const meta = mod.meta;
  const inner = meta.inputCfg.shape.reduce((p, q) => p * q, 1);
  const acc = { lower: [] as number[][], upper: [] as number[][], logits: [] as number[][] };
  const layers = meta.activations.map((name) => ({
    name,
    shape: meta.layers.find((l) => l.name === name)!.inShape,
    lower: [] as number[][],
    upper: [] as number[][],
  }));
  for (let s = 0; s < input.n; s += batch) {
    const b = Math.min(batch, input.n - s);
    const res = tidyResult(() => {
      const x = tf.tensor(input.x.subarray(s * inner, (s + b) * inner), [b, ...meta.inputCfg.shape]);
      const labels = input.labels ? tf.tensor1d(input.labels.subarray(s, s + b), 'int32') : undefined;
      return mod.bounds(params, inputBox(x, eps, meta.inputCfg), method, {
        ...evalOptions(meta),
        lines,
        ...(labels ? { labels } : {}),
        intermediate,
      });
    });
    try {
      acc.lower.push(...rowsOf((await res.lower.data()) as Float32Array, b));
      acc.upper.push(...rowsOf((await res.upper.data()) as Float32Array, b));
      acc.logits.push(...rowsOf((await res.logits.data()) as Float32Array, b));
      for (const L of intermediate ? layers : []) {
        const lb = res.intermediate?.find((r) => r.layer === L.name);
        if (!lb) throw new Error(`bounds: no intermediate bounds for layer '${L.name}'`);
        for (const [dst, t] of [
          [L.lower, lb.lower],
          [L.upper, lb.upper],
        ] as const) {
          const d = (await t.data()) as Float32Array;
          const torch = L.shape.length === 3 ? hwcToChw(d, L.shape[0]!, L.shape[1]!, L.shape[2]!) : d;
          dst.push(...rowsOf(torch, b));
        }
      }
    } finally {
      tf.dispose(res as unknown as tf.TensorContainer);
    }
  }
  const labels = input.labels ? Array.from(input.labels) : undefined;
  return {
    method,
    lines,
    eps,
    backend,
    batch,
    seconds: (performance.now() - t0) / 1000,
    spec: labels ? 'margin' : 'logits',
    ...acc,
    ...(labels ? { labels, verified: acc.lower.map((r) => r.every((v) => v > 0)) } : {}),
    ...(intermediate
      ? {
          intermediate: layers.map((L) => ({
            layer: L.name,
            shape: L.shape,
            lower: L.lower,
            upper: L.upper,
          })),
        }
      : {}),
  };
}

const num = (v: number): string =>
  (Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : v.toFixed(4)).padStart(11);

/** The readable form: one block per input, one line per margin (or logit), per-layer summaries. */
export function formatBounds(r: BoundsJson, meta: ModuleMeta): string {
  const out = [
    `network ${meta.name}: ${r.method} bounds, ${r.lines} lines, eps ${r.eps}, on ${r.spec === 'margin' ? 'margins z_y - z_j' : 'logits'}`,
    `${r.lower.length} input(s) in batches of ${r.batch} on ${r.backend}: ${r.seconds.toFixed(2)} s`,
  ];
  r.lower.forEach((low, i) => {
    const y = r.labels?.[i];
    out.push(
      '',
      y === undefined
        ? `input ${i}`
        : `input ${i}  label ${y}  ${r.verified![i] ? 'VERIFIED' : 'not verified'}`,
    );
    out.push(
      `  ${y === undefined ? 'class' : 'j    '}      lower       upper${y === undefined ? '       clean' : ''}`,
    );
    low.forEach((l, k) => {
      const j = y === undefined ? k : k < y ? k : k + 1;
      const clean = y === undefined ? num(r.logits[i]![k]!) : '';
      out.push(`  ${String(j).padEnd(5)}${num(l)} ${num(r.upper[i]![k]!)} ${clean}`.trimEnd());
    });
  });
  for (const L of r.intermediate ?? []) {
    let width = 0;
    let unstable = 0;
    let count = 0;
    L.lower.forEach((row, i) =>
      row.forEach((l, k) => {
        const u = L.upper[i]![k]!;
        width += u - l;
        if (l < 0 && u > 0) unstable++;
        count++;
      }),
    );
    out.push(
      `${out.length && L === r.intermediate![0] ? '\n' : ''}layer ${L.layer} [${L.shape.join('x')}]: mean width ${(width / count).toPrecision(4)}, ${((100 * unstable) / count).toFixed(1)} % unstable (l < 0 < u)`,
    );
  }
  return out.join('\n');
}

/** alpha-crown on inputs: the ε-ball ∩ domain of each row, margins with labels, else logits. */
export function alphaInputs(
  net: SeqNet,
  input: BoundsInput,
  meta: ModuleMeta,
  eps: number,
  lines: LineStrategy,
): BoundsJson {
  const shape = meta.input.shape;
  const width = net.nIn;
  const K = meta.classes;
  const [d0, d1] = meta.input.domain;
  const t0 = performance.now();
  const acc = { lower: [] as number[][], upper: [] as number[][], logits: [] as number[][] };
  for (let n = 0; n < input.n; n++) {
    const xi = input.x.subarray(n * width, (n + 1) * width);
    const x = shape.length === 3 ? hwcToChw(xi, shape[0]!, shape[1]!, shape[2]!) : xi;
    const box = {
      lo: Float64Array.from(x, (v) => Math.max(v - eps, d0)),
      hi: Float64Array.from(x, (v) => Math.min(v + eps, d1)),
    };
    const y = input.labels?.[n];
    const rows: Float64Array[] = [];
    for (let j = 0; j < K; j++) {
      if (j === y) continue;
      const l = new Float64Array(K);
      if (y === undefined) l[j] = 1;
      else {
        l[y] = 1;
        l[j] = -1;
      }
      rows.push(l);
    }
    const r = alphaCrownRows(net, box, rows);
    acc.lower.push(r.lower);
    acc.upper.push(r.upper);
    acc.logits.push(Array.from(forward(net, x)));
  }
  const labels = input.labels ? Array.from(input.labels) : undefined;
  return {
    method: 'alpha-crown',
    lines,
    eps,
    backend: 'float64 (the complete verifier, no tfjs)',
    batch: 1,
    seconds: (performance.now() - t0) / 1000,
    spec: labels ? 'margin' : 'logits',
    ...acc,
    ...(labels ? { labels, verified: acc.lower.map((r) => r.every((v) => v > 0)) } : {}),
  };
}
