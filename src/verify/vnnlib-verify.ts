/**
 * `vnet verify <spec> --weights W --vnnlib prop.vnnlib [--timeout T]`: complete verification of a
 * spec network on a VNN-LIB property — the spec lowered to the float64 SeqNet (ReLU networks),
 * then the VNN-COMP pipeline (attack, α-CROWN, branch and bound with β) within the time limit.
 */
import { specToSeqNet } from '../complete/spec-net.js';
import { verifyProperty, type Verdict } from '../complete/verify.js';
import { checkFile } from '../semantics/index.js';
import { readSafetensors } from '../runtime/io/safetensors.js';
import { formatCounterexample } from '../vnncomp/instance.js';
import { readVnnlib } from '../vnnlib/parse.js';
import { checkPropertyFits } from './vnnlib-bounds.js';

export interface VnnlibVerifyJson {
  readonly vnnlib: string;
  readonly result: Verdict;
  readonly seconds: number;
  /** Branch-and-bound subdomains bounded. */
  readonly domains: number;
  readonly reason?: string;
  /** `((X_0 v) … (Y_0 v) …)` for `violated`: raw input (C,H,W) and logits. */
  readonly counterexample?: string;
}

/** Runs the complete verifier; the spec and weights must have been validated (loadNetwork). */
export function verifyVnnlib(
  specPath: string,
  weightsPath: string,
  vnnlibPath: string,
  timeoutS: number,
  classes: number,
): VnnlibVerifyJson {
  const t0 = Date.now();
  const net = specToSeqNet(checkFile(specPath).model!, readSafetensors(weightsPath).tensors);
  const prop = readVnnlib(vnnlibPath);
  checkPropertyFits(prop, vnnlibPath, net.nIn, classes);
  const r = verifyProperty(net, prop, t0 + timeoutS * 1000);
  return {
    vnnlib: vnnlibPath,
    result: r.verdict,
    seconds: (Date.now() - t0) / 1000,
    domains: r.domains,
    ...(r.reason ? { reason: r.reason } : {}),
    ...(r.counterexample ? { counterexample: formatCounterexample(r.counterexample) } : {}),
  };
}

export function formatVnnlibVerify(r: VnnlibVerifyJson, network: string): string {
  const head = `network ${network} on ${r.vnnlib}: ${r.result} in ${r.seconds.toFixed(2)} s (${r.domains} subdomain${r.domains === 1 ? '' : 's'})`;
  return [
    head,
    ...(r.reason ? [`reason: ${r.reason}`] : []),
    ...(r.counterexample ? [r.counterexample] : []),
  ].join('\n');
}
