/**
 * Child process of fused-webgpu.test.ts (WebGPU needs a process of its own): starts the webgpu
 * backend and compares the WGSL fused kernels with the plain op path on it, printing one JSON
 * line: { error } when the backend cannot start, else the largest relative differences.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/runtime/backend.js';
import { fusedActive, fusedFormsLower, setFused } from '../../src/runtime/fused.js';
import { Adam } from '../../src/runtime/train/adam.js';
import { loadSpecModule } from '../../src/codegen/load.js';
import * as rt from '../../src/runtime/index.js';

const out: Record<string, unknown> = {};

const relDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  return a.length === b.length ? w : Infinity;
};

/** The op form of back.ts (see test/runtime/fused.test.ts). */
function reference(A: tf.Tensor, l: tf.Tensor[], o: Cfg): tf.Tensor[] {
  const [sL, sU, tL, tU] = l as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
  const A3 = tf.reshape(A, [o.shared ? 1 : o.B, o.m, o.N]);
  const v = (t: tf.Tensor): tf.Tensor => tf.reshape(t, [o.B, 1, o.N]);
  const half = (a: tf.Tensor, b: tf.Tensor, s: number): tf.Tensor => tf.mul(tf.add(a, tf.mul(b, s)), 0.5);
  const abs = tf.abs(A3);
  const dot = tf.sum(tf.sub(tf.mul(A3, v(half(tU, tL, 1))), tf.mul(abs, v(half(tU, tL, -1)))), 2);
  if (!o.withForms) return [dot];
  let f = tf.reshape(tf.sub(tf.mul(A3, v(half(sU, sL, 1))), tf.mul(abs, v(half(sU, sL, -1)))), [
    o.B * o.m,
    o.N,
  ]);
  if (o.cols) f = tf.gather(f, tf.tensor1d(o.cols, 'int32'), 1);
  return [f, dot];
}

interface Cfg {
  B: number;
  m: number;
  N: number;
  shared: boolean;
  cols: number[] | null;
  withForms: boolean;
}

try {
  const info = await initBackend('webgpu');
  out.detail = info.detail;
  out.active = fusedActive();
  const cases: Cfg[] = [
    { B: 3, m: 4, N: 10, shared: false, cols: null, withForms: true },
    { B: 3, m: 4, N: 10, shared: false, cols: [0, 3, 4, 9], withForms: true },
    { B: 3, m: 4, N: 10, shared: true, cols: [1, 2, 5, 6, 7], withForms: true },
    { B: 3, m: 4, N: 10, shared: false, cols: null, withForms: false },
  ];
  const worst = { values: 0, grads: 0 };
  for (const [ci, o] of cases.entries()) {
    // every third entry of A exactly 0 (the gradient's a = 0 side)
    const A = tf.tidy(() =>
      tf.mul(
        tf.randomUniform([(o.shared ? 1 : o.B) * o.m * o.N], -1, 1, 'float32', ci + 1),
        tf.cast(tf.notEqual(tf.mod(tf.range(0, (o.shared ? 1 : o.B) * o.m * o.N), 3), 0), 'float32'),
      ),
    );
    const lines = [0, 1, 2, 3].map((i) =>
      tf.randomUniform([o.B, o.N], i === 2 ? -1 : 0, 1, 'float32', 10 * ci + i),
    );
    const wOut = tf.randomNormal([o.B * o.m, o.cols ? o.cols.length : o.N], 0, 1, 'float32', 7);
    const wDot = tf.randomNormal([o.B, o.m], 0, 1, 'float32', 8);
    const wrt = o.withForms ? [0, 1, 2, 3, 4] : [0, 3, 4];
    const inputs = [A, ...lines];
    const run = async (f: (xs: tf.Tensor[]) => tf.Tensor[]): Promise<Float32Array[]> => {
      const loss = (xs: tf.Tensor[]): tf.Scalar => {
        const r = f(xs);
        const s = tf.sum(tf.mul(r[r.length - 1]!, wDot));
        return (o.withForms ? tf.add(s, tf.sum(tf.mul(r[0]!, wOut))) : s) as tf.Scalar;
      };
      const vals = f(inputs);
      const grads = tf.grads((...xs: tf.Tensor[]) => {
        const all = [...inputs];
        wrt.forEach((k, i) => (all[k] = xs[i]!));
        return loss(all);
      })(wrt.map((k) => inputs[k]!));
      return Promise.all([...vals, ...grads].map(async (t) => (await t.data()) as Float32Array));
    };
    const fused = await run(([a, sL, sU, tL, tU]) => {
      const [f, d] = fusedFormsLower(a!, { sL: sL!, sU: sU!, tL: tL!, tU: tU! }, o);
      return o.withForms ? [f, d] : [d];
    });
    const ref = await run(([a, ...l]) => reference(a!, l, o));
    const nv = o.withForms ? 2 : 1;
    fused.forEach((x, i) => {
      const key = i < nv ? 'values' : 'grads';
      worst[key] = Math.max(worst[key], relDiff(x, ref[i]!));
    });
  }
  out.forms = worst;
  // Adam: fused (WGSL) against the op path, four steps, weight decay on one parameter
  const shapes: Record<string, number[]> = { w: [7, 149], b: [3] };
  const init = (): Record<string, tf.Variable> =>
    Object.fromEntries(
      Object.entries(shapes).map(([k, s], i) => [k, tf.variable(tf.randomNormal(s, 0, 1, 'float32', i + 1))]),
    );
  const [pf, po] = [init(), init()];
  const [af, ao] = [new Adam(), new Adam()];
  for (let step = 0; step < 4; step++) {
    const g = Object.fromEntries(
      Object.entries(shapes).map(([k, s], i) => [k, tf.randomNormal(s, 0, 0.3, 'float32', 10 * step + i)]),
    );
    setFused(true);
    af.apply(pf, g, 1e-2, { w: 0.01 });
    setFused(false);
    ao.apply(po, g, 1e-2, { w: 0.01 });
    setFused(true);
  }
  let adam = 0;
  let moved = 0;
  for (const k of Object.keys(shapes)) {
    const [a, b] = [await pf[k]!.data(), await po[k]!.data()];
    adam = Math.max(adam, relDiff(a, b));
    moved = Math.max(moved, relDiff(a, await init()[k]!.data()));
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
