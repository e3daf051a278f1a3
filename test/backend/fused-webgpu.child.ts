/**
 * Child process of fused-webgpu.test.ts (WebGPU needs a process of its own): starts the webgpu
 * backend and compares the WGSL fused kernels with the plain op path on it, printing one JSON
 * line: { error } when the backend cannot start, else the largest relative differences.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/runtime/backend.js';
import { fusedActive, setFused } from '../../src/runtime/fused.js';
import { adamBoth, FORMS_CASES, formsBoth } from '../runtime/fused-ref.js';
import { relErr } from '../runtime/nets.js';
import { loadSpecModule } from '../../src/codegen/load.js';
import * as rt from '../../src/runtime/index.js';

const out: Record<string, unknown> = {};

/** The largest relative difference of two arrays (test/runtime/nets.ts's relErr, one row). */
const relDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number =>
  a.length === b.length ? relErr([a], [b]) : Infinity;

try {
  const info = await initBackend('webgpu');
  out.detail = info.detail;
  out.active = fusedActive();
  const worst = { values: 0, grads: 0 };
  for (const [ci, [, o]] of FORMS_CASES.entries()) {
    const { fused, ref, nValues } = formsBoth(o, ci + 1);
    const [f, r] = await Promise.all(
      [fused, ref].map((ts) => Promise.all(ts.map(async (t) => (await t.data()) as Float32Array))),
    );
    f!.forEach((x, i) => {
      const key = i < nValues ? 'values' : 'grads';
      worst[key] = Math.max(worst[key], relDiff(x, r![i]!));
    });
    tf.dispose([...fused, ...ref]);
  }
  out.forms = worst;
  // Adam: fused (WGSL) against the op path
  const { fused, ops, start } = adamBoth();
  let adam = 0;
  let moved = 0;
  for (const k of Object.keys(fused)) {
    const [a, b] = [await fused[k]!.data(), await ops[k]!.data()];
    adam = Math.max(adam, relDiff(a, b));
    moved = Math.max(moved, relDiff(a, await start[k]!.data()));
  }
  out.adam = adam;
  out.adamMoved = moved;
  // end to end: the generated fmnist-mlp module's CROWN-IBP training bound and its gradients
  const mod = await loadSpecModule('specs/fmnist-mlp.vnet');
  const p = mod.initParams(0);
  const x = tf.randomUniform([4, ...mod.meta.inputCfg.shape], 0, 1, 'float32', 3);
  const box = rt.inputBox(x, 0.02, mod.meta.inputCfg);
  const labels = tf.tensor1d([0, 3, 9, 5], 'int32');
  const pass = async (fused: boolean): Promise<Float32Array[]> => {
    setFused(fused);
    const vars = Object.values(p);
    const { value, grads } = tf.variableGrads(() => {
      const b = mod.crownIbp(p, box, { labels, lines: 'adaptive', lowerOnly: true });
      return tf.sum(b.lower) as tf.Scalar;
    }, vars);
    const lower = mod.crownIbp(p, box, { labels, lines: 'adaptive', lowerOnly: true }).lower;
    return Promise.all(
      [lower, value, ...vars.map((v) => grads[v.name]!)].map(async (t) => (await t.data()) as Float32Array),
    );
  };
  const [on, off] = [await pass(true), await pass(false)];
  setFused(true);
  out.e2e = Math.max(...on.map((a, i) => relDiff(a, off[i]!)));
} catch (e) {
  out.error = `${(e as Error).name}: ${(e as Error).message}`;
}
console.log(JSON.stringify(out));
process.exit(0);
