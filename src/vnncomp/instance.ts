/**
 * One VNN-COMP instance (ONNX network, VNN-LIB property, timeout): import, verify, answer — the
 * contract of the competition's `run_instance.sh`. The result file's first line is `holds`,
 * `violated`, `unknown` or `timeout`; a `violated` answer is followed by the counterexample
 * `((X_0 v) … (Y_0 v) …)` (one pair a line). Unsupported operators or properties give `unknown`
 * with the reason; only files that cannot be read at all give `error`.
 */
import { basename } from 'node:path';
import { writeFileAtomic } from '../runtime/io/atomic.js';
import { UserError } from '../base/errors.js';
import { readOnnxNet, UnsupportedModel } from '../complete/onnx-net.js';
import { verifyProperty, DEFAULT_VERIFY, type VerifyOptions } from '../complete/verify.js';
import type { Counterexample } from '../complete/attack.js';
import { readVnnlib, VnnlibError } from '../vnnlib/parse.js';
import { Diag } from '../diagnostics/messages.js';

export type InstanceAnswer = 'holds' | 'violated' | 'unknown' | 'timeout' | 'error';

export interface InstanceResult {
  readonly result: InstanceAnswer;
  /** Seconds spent reading and lowering the model and the property. */
  readonly prepTime: number;
  /** Seconds from the start to the answer (the preparation included). */
  readonly runTime: number;
  readonly note?: string;
  /** `((X_0 v) … (Y_0 v) …)` for `violated`. */
  readonly counterexample?: string;
  readonly domains?: number;
}

/** The VNN-COMP counterexample text. */
export function formatCounterexample(ce: Counterexample): string {
  const parts = [
    ...Array.from(ce.x, (v, i) => `(X_${i} ${v})`),
    ...Array.from(ce.y, (v, i) => `(Y_${i} ${v})`),
  ];
  return `(${parts.join('\n ')})`;
}

/** `<onnx stem>__<vnnlib stem>.counterexample` */
export function counterexampleName(onnx: string, vnnlib: string): string {
  const stem = (p: string): string =>
    basename(p)
      .replace(/\.gz$/, '')
      .replace(/\.(onnx|vnnlib)$/, '');
  return `${stem(onnx)}__${stem(vnnlib)}.counterexample`;
}

export interface InstanceOptions {
  readonly verify?: VerifyOptions;
  /** Seconds kept back from the timeout for writing the answer. */
  readonly reserve?: number;
}

export function runInstance(
  onnx: string,
  vnnlib: string,
  timeoutS: number,
  o: InstanceOptions = {},
): InstanceResult {
  const t0 = Date.now();
  const secs = (): number => (Date.now() - t0) / 1000;
  let net;
  let prop;
  try {
    net = readOnnxNet(onnx);
    prop = readVnnlib(vnnlib);
  } catch (e) {
    const prepTime = secs();
    if (e instanceof UnsupportedModel)
      return { result: 'unknown', prepTime, runTime: prepTime, note: `unsupported model: ${e.message}` };
    if (e instanceof VnnlibError) {
      const first = e.rendered.split('\n')[0]!;
      const unsupported = first.includes(`VN${Diag.VnnlibUnsupported.code}`);
      return { result: unsupported ? 'unknown' : 'error', prepTime, runTime: prepTime, note: first };
    }
    if (e instanceof UserError) return { result: 'error', prepTime, runTime: prepTime, note: e.message };
    throw e;
  }
  const prepTime = secs();
  const deadline = t0 + (timeoutS - (o.reserve ?? 0.3)) * 1000;
  const r = verifyProperty(net, prop, deadline, o.verify ?? DEFAULT_VERIFY);
  const runTime = secs();
  const over = runTime > timeoutS;
  if (r.verdict === 'violated' && r.counterexample && !over)
    return {
      result: 'violated',
      prepTime,
      runTime,
      counterexample: formatCounterexample(r.counterexample),
      domains: r.domains,
      note: `found by ${r.stage === 'attack' ? 'the attack' : 'branch and bound'}`,
    };
  if (over || r.verdict === 'timeout') return { result: 'timeout', prepTime, runTime, domains: r.domains };
  return {
    result: r.verdict === 'holds' ? 'holds' : 'unknown',
    prepTime,
    runTime,
    domains: r.domains,
    note:
      r.reason ?? (r.verdict === 'holds' ? `${r.domains} subdomain${r.domains === 1 ? '' : 's'}` : undefined),
  };
}

/** The result file of run_instance: the answer, then the counterexample when violated. */
export function resultFileText(r: InstanceResult): string {
  const head = r.result === 'error' ? 'unknown' : r.result;
  return r.counterexample ? `${head}\n${r.counterexample}\n` : `${head}\n`;
}

export function writeResultFile(path: string, r: InstanceResult): void {
  writeFileAtomic(path, resultFileText(r));
}
