/**
 * Adam with PyTorch's semantics (torch.optim.Adam, amsgrad off), on tfjs ops. Unlike tfjs's
 * `AdamOptimizer`, every parameter keeps its own step count, so the moments of a parameter that
 * joins late (ParamRamp's r, re-initialised at the end of the clean phase, paper-notes §10.16)
 * start there with their own bias correction; the bias corrections are computed in float64 on the
 * host; ε defaults to PyTorch's 1e-8; and the whole state can be exported and imported bit for
 * bit, which makes `--resume` exact.
 *
 * Update (per parameter p with gradient g, step t, L2 weight decay wd):
 *   g ← g + wd·p;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
 *   p ← p − (lr / (1−β1^t)) · m / (√v / √(1−β2^t) + ε)
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedActive, fusedAdam } from '../fused.js';

/** The exported state of one parameter: its moments and step count. */
export interface AdamSlot {
  readonly m: Float32Array;
  readonly v: Float32Array;
  readonly step: number;
}

interface Slot {
  readonly m: tf.Variable;
  readonly v: tf.Variable;
  step: number;
}

export class Adam {
  private readonly slots = new Map<string, Slot>();

  constructor(
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    readonly epsilon = 1e-8,
  ) {}

  /**
   * One update of every parameter in `grads` (keyed like `params`). `decay` is the L2 weight decay
   * of each parameter (0 where absent). Moments are created, at zero, on a parameter's first update.
   */
  apply(
    params: Readonly<Record<string, tf.Variable>>,
    grads: Readonly<Record<string, tf.Tensor>>,
    lr: number,
    decay: Readonly<Record<string, number>> = {},
  ): void {
    for (const [name, g0] of Object.entries(grads)) {
      const p = params[name];
      if (!p) throw new Error(`Adam: gradient for unknown parameter '${name}'`);
      const s = this.slot(name, p);
      s.step++;
      const stepSize = lr / (1 - this.beta1 ** s.step);
      const sqrtBc2 = Math.sqrt(1 - this.beta2 ** s.step);
      const wd = decay[name] ?? 0;
      if (fusedActive() && p.dtype === 'float32' && g0.dtype === 'float32') {
        // one pass over the heap (wasm) instead of a dozen elementwise kernels
        const [p1, m1, v1] = fusedAdam(p, g0, s.m, s.v, {
          beta1: this.beta1,
          beta2: this.beta2,
          epsilon: this.epsilon,
          stepSize,
          sqrtBc2,
          decay: wd,
        });
        s.m.assign(m1);
        s.v.assign(v1);
        p.assign(p1);
        tf.dispose([p1, m1, v1]);
        continue;
      }
      tf.tidy(() => {
        const g = wd === 0 ? g0 : tf.add(g0, tf.mul(p, wd));
        const m = tf.add(tf.mul(s.m, this.beta1), tf.mul(g, 1 - this.beta1));
        const v = tf.add(tf.mul(s.v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        const denom = tf.add(tf.div(tf.sqrt(v), sqrtBc2), this.epsilon);
        s.m.assign(m);
        s.v.assign(v);
        p.assign(tf.sub(p, tf.mul(tf.div(m, denom), stepSize)));
      });
    }
  }

  /** Step count of a parameter (0 before its first update). */
  steps(name: string): number {
    return this.slots.get(name)?.step ?? 0;
  }

  /** The state of every parameter updated so far, by name (asynchronous reads: GPU backends allow no others). */
  async exportState(): Promise<Record<string, AdamSlot>> {
    const out: Record<string, AdamSlot> = {};
    for (const [name, s] of this.slots)
      out[name] = {
        m: (await s.m.data()) as Float32Array,
        v: (await s.v.data()) as Float32Array,
        step: s.step,
      };
    return out;
  }

  /** Replaces the state with an exported one (`params` gives the shapes). */
  importState(
    params: Readonly<Record<string, tf.Variable>>,
    state: Readonly<Record<string, AdamSlot>>,
  ): void {
    this.dispose();
    for (const [name, st] of Object.entries(state)) {
      const p = params[name];
      if (!p) throw new Error(`Adam: state for unknown parameter '${name}'`);
      if (st.m.length !== p.size || st.v.length !== p.size)
        throw new Error(`Adam: state of '${name}' has ${st.m.length} values, the parameter ${p.size}`);
      this.slots.set(name, {
        m: tf.tidy(() => tf.variable(tf.tensor(st.m, p.shape, 'float32'), false)),
        v: tf.tidy(() => tf.variable(tf.tensor(st.v, p.shape, 'float32'), false)),
        step: st.step,
      });
    }
  }

  /** Frees the moment tensors. */
  dispose(): void {
    for (const s of this.slots.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.slots.clear();
  }

  private slot(name: string, p: tf.Variable): Slot {
    let s = this.slots.get(name);
    if (!s) {
      const zero = (): tf.Variable => tf.tidy(() => tf.variable(tf.zerosLike(p), false));
      s = { m: zero(), v: zero(), step: 0 };
      this.slots.set(name, s);
    }
    return s;
  }
}
