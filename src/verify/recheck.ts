/**
 * Re-checking a certificate file (the JSON lines `vnet verify --certificates` writes, one
 * `Certificate` per sample, method, line strategy and ε; format.ts `certificateLines`): every
 * line is parsed and checked against the network (class count, margin classes), then recomputed
 * with the same evaluation code that wrote it (`evaluate` on the same samples, PGD off) and
 * compared field by field. A certificate is confirmed iff its label matches the sample's, its
 * prediction and verdict equal the recomputed ones, and every margin lower bound agrees with the
 * recomputed one to RECHECK_TOLERANCE (relative, absolute below 1; null, i.e. non-finite, only
 * with null). PGD outcomes are not re-checked (the attack is random and not a certificate).
 * No file access: the `vnet bundle` page runs this in the browser, the tests in Node.
 */
import type { BoundMethod, LineStrategy } from '../ir/ir.js';
import { BOUND_METHODS, LINE_STRATEGIES } from '../semantics/recipe.js';
import {
  evaluate,
  marginClasses,
  type Certificate,
  type PgdOutcomeName,
  type Verifiable,
  type VerifyMethod,
} from './evaluate.js';

/**
 * Agreement required between a certified and a recomputed margin bound: |a − b| ≤ tol·max(1, |a|).
 * Float32 bounds of the same network differ across backends (wasm, webgpu, tensorflow) by a few
 * units in the 6th digit; a tampered bound differs by far more.
 */
export const RECHECK_TOLERANCE = 1e-4;

const PGD_OUTCOMES: readonly PgdOutcomeName[] = ['held', 'broken', 'misclassified', 'not-run'];

/** One parsed line of a certificate file (1-based line number). */
export interface CertificateLine {
  readonly line: number;
  readonly cert: Certificate;
}

export interface ParsedCertificates {
  readonly certs: readonly CertificateLine[];
  /** `line N: reason` for every line that is not a certificate of this network. */
  readonly problems: readonly string[];
  /** Line numbers of `problems`, in order. */
  readonly badLines: readonly number[];
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/** Why `v` is not a certificate of a network with `K` classes, or the certificate. */
function checkCertificate(v: unknown, K: number): Certificate | string {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a JSON object';
  const o = v as Record<string, unknown>;
  const {
    index,
    label,
    prediction,
    method,
    lines,
    eps,
    marginClasses: mc,
    marginLower: ml,
    verified,
    pgd,
  } = o;
  if (!isInt(index) || index < 0) return `"index" ${JSON.stringify(index)} is not a sample index ≥ 0`;
  if (!isInt(label) || label < 0 || label >= K)
    return `"label" ${JSON.stringify(label)} is not a class of this network (0…${K - 1})`;
  if (!isInt(prediction) || prediction < -1 || prediction >= K)
    return `"prediction" ${JSON.stringify(prediction)} is not a class of this network (0…${K - 1}, or -1)`;
  if (typeof method !== 'string' || !(BOUND_METHODS as readonly string[]).includes(method))
    return `"method" ${JSON.stringify(method)} is not one of ${BOUND_METHODS.join(', ')}`;
  if (typeof lines !== 'string' || !(LINE_STRATEGIES as readonly string[]).includes(lines))
    return `"lines" ${JSON.stringify(lines)} is not one of ${LINE_STRATEGIES.join(', ')}`;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0)
    return `"eps" ${JSON.stringify(eps)} is not a radius ≥ 0`;
  const want = marginClasses(label, K);
  if (!Array.isArray(mc) || mc.length !== want.length || mc.some((c, i) => c !== want[i]))
    return `"marginClasses" ${JSON.stringify(mc)} is not [${want.join(', ')}] (the classes ≠ label ${label})`;
  if (!Array.isArray(ml) || ml.length !== K - 1)
    return `"marginLower" has ${Array.isArray(ml) ? ml.length : 'no'} entries, expected ${K - 1}`;
  const badAt = ml.findIndex((x) => x !== null && (typeof x !== 'number' || !Number.isFinite(x)));
  if (badAt >= 0) return `"marginLower"[${badAt}] ${JSON.stringify(ml[badAt])} is neither a number nor null`;
  if (typeof verified !== 'boolean') return `"verified" ${JSON.stringify(verified)} is not true or false`;
  if (typeof pgd !== 'string' || !(PGD_OUTCOMES as readonly string[]).includes(pgd))
    return `"pgd" ${JSON.stringify(pgd)} is not one of ${PGD_OUTCOMES.join(', ')}`;
  return {
    index,
    label,
    prediction,
    method: method as BoundMethod,
    lines: lines as LineStrategy,
    eps,
    marginClasses: want,
    marginLower: ml as (number | null)[],
    // certificates of `vnet verify` carry the float32 verdict and its rigorous confirmation;
    // older files (and other producers) only `verified`
    float32Verified: typeof o['float32Verified'] === 'boolean' ? o['float32Verified'] : verified,
    confirmed: typeof o['confirmed'] === 'boolean' ? o['confirmed'] : verified,
    verified,
    rigorousLower: null,
    checks: [],
    pgd: pgd as PgdOutcomeName,
  };
}

/** Parses a certificate file's text for a network with `K` classes (blank lines are skipped). */
export function parseCertificates(text: string, K: number): ParsedCertificates {
  const certs: CertificateLine[] = [];
  const problems: string[] = [];
  const badLines: number[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (e) {
      problems.push(`line ${line}: not valid JSON (${(e as Error).message})`);
      badLines.push(line);
      return;
    }
    const c = checkCertificate(v, K);
    if (typeof c === 'string') {
      problems.push(`line ${line}: ${c}`);
      badLines.push(line);
    } else certs.push({ line, cert: c });
  });
  return { certs, problems, badLines };
}

/** The samples certificates refer to: raw inputs (internal layout, flattened), labels, dataset indices. */
export interface CertSamples {
  readonly x: Float32Array;
  readonly labels: ArrayLike<number>;
  readonly indices: ArrayLike<number>;
}

/** The outcome for one line. */
export interface RecheckOutcome {
  readonly line: number;
  readonly cert?: Certificate;
  readonly confirmed: boolean;
  /** Why it was not confirmed. */
  readonly reason?: string;
}

export interface RecheckReport {
  /** Lines that held a certificate or a problem. */
  readonly total: number;
  readonly confirmed: number;
  /** Every line that was not confirmed, in file order. */
  readonly rejected: readonly RecheckOutcome[];
  readonly seconds: number;
}

export interface RecheckOptions {
  /** Samples per evaluation batch (default 16). */
  readonly batch?: number;
  readonly tolerance?: number;
  /** Called after each batch with samples done and the total. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Awaited after each batch (a browser passes a macrotask so that progress is painted). */
  readonly pause?: () => Promise<void>;
}

const fmt = (v: number | null): string => (v === null ? 'null (non-finite)' : String(v));

/** Why a recomputed certificate disagrees with a claimed one, or undefined when it agrees. */
export function certificateMismatch(
  claimed: Certificate,
  recomputed: Certificate,
  tolerance = RECHECK_TOLERANCE,
): string | undefined {
  if (claimed.prediction !== recomputed.prediction)
    return `prediction is ${claimed.prediction}, recomputed ${recomputed.prediction}`;
  for (let i = 0; i < claimed.marginLower.length; i++) {
    const a = claimed.marginLower[i]!;
    const b = recomputed.marginLower[i]!;
    const ok = a === null || b === null ? a === b : Math.abs(a - b) <= tolerance * Math.max(1, Math.abs(a));
    if (!ok)
      return `margin lower bound vs class ${claimed.marginClasses[i]} is ${fmt(a)}, recomputed ${fmt(b)}`;
  }
  // the float32 verdicts compare (the page recomputes float32 bounds; the rigorous binary64
  // confirmation is `vnet verify`'s, and a claimed `verified` needs it on top)
  // `verified` needs the float32 verdict (and, from vnet verify, its rigorous confirmation on top)
  if (claimed.verified && !claimed.float32Verified)
    return 'claims verified, but its float32 verdict is not verified';
  if (!claimed.verified && claimed.float32Verified && claimed.confirmed)
    return 'claims not verified, but its float32 verdict is verified and confirmed';
  // the page recomputes the float32 bounds: their verdicts must agree
  if (claimed.float32Verified !== recomputed.float32Verified)
    return `claims ${claimed.float32Verified ? 'verified' : 'not verified'}, recomputed ${recomputed.float32Verified ? 'verified' : 'not verified'}`;
  return undefined;
}

/**
 * Recomputes every certificate of `parsed` on `samples` with `net` (one `evaluate` per ε, method
 * and line strategy, PGD off) and compares. Lines with problems count as rejected with their reason.
 */
export async function recheckCertificates(
  net: Verifiable,
  samples: CertSamples,
  parsed: ParsedCertificates,
  o: RecheckOptions = {},
): Promise<RecheckReport> {
  const t0 = performance.now();
  const per = net.inputShape.reduce((a, b) => a * b, 1);
  const batch = o.batch ?? 16;
  const position = new Map<number, number>();
  for (let i = 0; i < samples.indices.length; i++) position.set(samples.indices[i]!, i);
  const outcomes = new Map<number, RecheckOutcome>();
  const problemAt = new Map(
    parsed.badLines.map((l, i) => [l, parsed.problems[i]!.replace(/^line \d+: /, '')]),
  );
  for (const [line, reason] of problemAt) outcomes.set(line, { line, confirmed: false, reason });

  // groups of (ε, method, lines), each with the distinct sample positions it needs
  const groups = new Map<string, { eps: number; method: VerifyMethod; lines: LineStrategy; pos: number[] }>();
  const pending: CertificateLine[] = [];
  for (const cl of parsed.certs) {
    const c = cl.cert;
    const p = position.get(c.index);
    if (p === undefined) {
      outcomes.set(cl.line, {
        line: cl.line,
        cert: c,
        confirmed: false,
        reason: `sample ${c.index} is not bundled`,
      });
      continue;
    }
    if (samples.labels[p] !== c.label) {
      outcomes.set(cl.line, {
        line: cl.line,
        cert: c,
        confirmed: false,
        reason: `label is ${c.label}, but sample ${c.index} is labelled ${samples.labels[p]}`,
      });
      continue;
    }
    const key = `${c.eps}|${c.method}|${c.lines}`;
    const g = groups.get(key) ?? { eps: c.eps, method: c.method, lines: c.lines, pos: [] };
    groups.set(key, g);
    if (!g.pos.includes(p)) g.pos.push(p);
    pending.push(cl);
  }

  const total = [...groups.values()].reduce((n, g) => n + g.pos.length, 0);
  let done = 0;
  const recomputed = new Map<string, Certificate>();
  const refused = new Map<string, string>();
  for (const [key, g] of groups) {
    for (let s = 0; s < g.pos.length; s += batch) {
      const pos = g.pos.slice(s, s + batch);
      const x = new Float32Array(pos.length * per);
      pos.forEach((p, i) => x.set(samples.x.subarray(p * per, (p + 1) * per), i * per));
      const r = await evaluate(
        net,
        { x, labels: pos.map((p) => samples.labels[p]!), indices: pos.map((p) => samples.indices[p]!) },
        {
          eps: [g.eps],
          methods: [g.method],
          lines: [g.lines],
          batch: pos.length,
          pgd: { steps: 0, restarts: 0, seed: 0 },
          pgdStep: () => 0,
          certificates: true,
        },
      );
      const why = r.rows[0]?.refused;
      if (why !== undefined) refused.set(key, why);
      for (const c of r.certificates) recomputed.set(`${key}|${c.index}`, c);
      done += pos.length;
      o.onProgress?.(done, total);
      if (o.pause) await o.pause();
      if (why !== undefined) break;
    }
  }

  for (const cl of pending) {
    const c = cl.cert;
    const key = `${c.eps}|${c.method}|${c.lines}`;
    const again = recomputed.get(`${key}|${c.index}`);
    const reason = again
      ? certificateMismatch(c, again, o.tolerance)
      : `${c.method} could not run here (${refused.get(key) ?? 'no result'})`;
    outcomes.set(cl.line, {
      line: cl.line,
      cert: c,
      confirmed: reason === undefined,
      ...(reason ? { reason } : {}),
    });
  }
  const all = [...outcomes.values()].sort((a, b) => a.line - b.line);
  return {
    total: all.length,
    confirmed: all.filter((x) => x.confirmed).length,
    rejected: all.filter((x) => !x.confirmed),
    seconds: (performance.now() - t0) / 1000,
  };
}

/** One line for a rejected certificate: where it is and why. */
export function describeRejection(r: RecheckOutcome): string {
  const c = r.cert;
  const what = c ? ` (sample ${c.index}, ${c.method}, ${c.lines} lines, ε=${c.eps})` : '';
  return `line ${r.line}${what}: ${r.reason ?? 'not confirmed'}`;
}
