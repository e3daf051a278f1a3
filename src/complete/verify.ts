/**
 * The complete verifier on a VNN-LIB property: per case (input box), attack first, then branch
 * and bound (α-CROWN at the root, α-β-CROWN on subdomains); `violated` as soon as one case has a
 * re-checked counterexample, `holds` when every case is refuted everywhere, else `unknown` or
 * `timeout`. Every decision is made on float64 bounds (no float32 path exists here).
 */
import type { VnnlibProperty } from '../vnnlib/parse.js';
import { attack, DEFAULT_ATTACK, type AttackOptions, type Counterexample } from './attack.js';
import { branchAndBound, DEFAULT_BAB, type BabOptions } from './bab.js';
import type { SeqNet } from './onnx-net.js';

export type Verdict = 'holds' | 'violated' | 'unknown' | 'timeout';

export interface VerifyOptions {
  readonly attack: Omit<AttackOptions, 'deadline'>;
  readonly bab: Omit<BabOptions, 'deadline'>;
  /** Fraction of the time the first attack may use (the rest goes to branch and bound). */
  readonly attackShare: number;
}

export const DEFAULT_VERIFY: VerifyOptions = { attack: DEFAULT_ATTACK, bab: DEFAULT_BAB, attackShare: 0.2 };

export interface VerifyResult {
  readonly verdict: Verdict;
  readonly counterexample?: Counterexample;
  readonly reason?: string;
  /** Branch-and-bound subdomains bounded, all cases together. */
  readonly domains: number;
  readonly stage: 'attack' | 'bound' | 'bab' | 'none';
}

/** Checks that the property fits the network. */
export function propertyMismatch(net: SeqNet, p: VnnlibProperty): string | undefined {
  if (p.nX !== net.nIn) return `the property has ${p.nX} inputs X_i but the network has ${net.nIn}`;
  if (p.nY !== net.nOut) return `the property has ${p.nY} outputs Y_i but the network has ${net.nOut}`;
  return undefined;
}

export function verifyProperty(
  net: SeqNet,
  p: VnnlibProperty,
  deadline: number,
  o: VerifyOptions = DEFAULT_VERIFY,
): VerifyResult {
  const bad = propertyMismatch(net, p);
  if (bad) return { verdict: 'unknown', reason: bad, domains: 0, stage: 'none' };
  const t0 = Date.now();
  // attacks on every case first (cheap counterexamples), within a share of the time
  const attackDeadline = t0 + (deadline - t0) * o.attackShare;
  for (const c of p.cases) {
    const ce = attack(net, c, { ...o.attack, deadline: attackDeadline });
    if (ce) return { verdict: 'violated', counterexample: ce, domains: 0, stage: 'attack' };
  }
  let domains = 0;
  let worst: Verdict = 'holds';
  let reason: string | undefined;
  for (const c of p.cases) {
    const r = branchAndBound(net, c, { ...o.bab, deadline });
    domains += r.domains;
    if (r.status === 'violated')
      return { verdict: 'violated', counterexample: r.counterexample, domains, stage: 'bab' };
    if (r.status === 'timeout') return { verdict: 'timeout', domains, stage: 'bab' };
    if (r.status === 'unknown') {
      worst = 'unknown';
      reason = r.reason;
    }
  }
  return { verdict: worst, reason, domains, stage: domains === p.cases.length ? 'bound' : 'bab' };
}
