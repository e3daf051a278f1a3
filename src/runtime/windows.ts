/**
 * Windowed linear forms for LBP through convolutions. After the first activation LBP carries, per
 * sample and per input direction p (one of the n0 input values), a form over the whole feature
 * map. But a direction only reaches the neurons in its receptive window: an input pixel touches a
 * 2×2 patch of a 4×4/stride-2 conv's output, a 5×5 patch of the next 4×4 conv, and so on. Storing
 * each direction's form on its window instead of the whole map (auto_LiRPA's "patches", here for
 * the forward pass) cuts memory and arithmetic by the ratio map / window (4× to 50× on the shipped
 * conv nets), and every result is the same sum with the zero terms left out.
 *
 * Geometry, per spatial axis: a window size h and, for each direction, the map coordinate where its
 * window starts (it may start before 0 or end past the map; positions outside the map hold zeros).
 * A conv (kernel K ≥ stride S, padding P) maps a window starting at o to the one starting at
 * o' = ⌈(o + P − K + 1)/S⌉; the directions fall into at most S classes per axis by the offset
 * δ = o'·S − P − o, and each class is one conv2d with its own explicit padding (−δ before, enough
 * after to give every class the same output window). The plain full-map batched forms of lbp.ts
 * are the reference these are tested against (`setLbpWindows('off')`).
 *
 * Tensors: windowed forms are [B·n0, h, w, C] (sample-major, like the batched forms); the direction
 * order may be permuted by the conv steps (every use sums over directions), with the geometry
 * permuted alongside.
 */
import * as tf from '@tensorflow/tfjs-core';
import { envVar } from './env.js';
import type { Conv2dCfg } from './types.js';

/**
 * When LBP and full CROWN use windowed forms: where they are smaller than the map (auto), never,
 * or always (VNET_LBP_WINDOWS=off|always; anything else is auto).
 */
export type WindowMode = 'auto' | 'off' | 'always';

function parseMode(v: string | undefined): WindowMode {
  return v === 'off' || v === 'always' ? v : 'auto';
}

let mode: WindowMode = parseMode(envVar('VNET_LBP_WINDOWS'));

/** Sets the windowed-forms mode (tests compare 'always' with the plain 'off' path). */
export function setLbpWindows(m: WindowMode): void {
  mode = m;
}

export function lbpWindows(): WindowMode {
  return mode;
}

/** One spatial axis of a geometry: window size, and each direction's window start. */
export interface WinAxis {
  readonly size: number;
  readonly off: Int32Array;
}

/** Where each input direction's form lives on a feature map [H, W, C]. */
export interface WinGeom {
  readonly map: readonly [number, number, number];
  readonly y: WinAxis;
  readonly x: WinAxis;
  /**
   * Consecutive directions that share one window (full CROWN's identity rows: the channels of one
   * position), so per-window values are gathered once per group; absent = 1.
   */
  readonly group?: number;
}

/** One direction per group (the windows of a grouped geometry, each once). */
export function perGroup(g: WinGeom): WinGeom {
  const k = g.group ?? 1;
  if (k === 1) return g;
  const pick = (a: WinAxis): WinAxis => ({
    size: a.size,
    off: Int32Array.from({ length: a.off.length / k }, (_, i) => a.off[i * k]!),
  });
  return { map: g.map, y: pick(g.y), x: pick(g.x) };
}

/** Number of directions. */
export const dirs = (g: WinGeom): number => g.y.off.length;

/** Whether windows pay at this map: always, or (auto) when a window is at most half the map. */
export function windowsPay(g: WinGeom): boolean {
  if (mode === 'off') return false;
  if (mode === 'always') return true;
  return 2 * g.y.size * g.x.size <= g.map[0] * g.map[1];
}

/** The input layer [H, W, C]: direction p = (i·W + j)·C + c has the 1×1 window at (i, j). */
export function inputGeom(shape: readonly number[]): WinGeom | null {
  if (shape.length !== 3) return null;
  const [H, W, C] = shape as [number, number, number];
  const n0 = H * W * C;
  const oy = new Int32Array(n0);
  const ox = new Int32Array(n0);
  for (let p = 0; p < n0; p++) {
    oy[p] = Math.floor(p / (W * C));
    ox[p] = Math.floor(p / C) % W;
  }
  return { map: [H, W, C], y: { size: 1, off: oy }, x: { size: 1, off: ox } };
}

/** One axis through a conv: new window starts and size, and the padding before, per direction. */
function axisThrough(a: WinAxis, K: number, S: number, P: number): { axis: WinAxis; before: Int32Array } {
  const n = a.off.length;
  const off = new Int32Array(n);
  const before = new Int32Array(n);
  let size = 0;
  for (let p = 0; p < n; p++) {
    const o = a.off[p]!;
    const o2 = Math.ceil((o + P - K + 1) / S);
    const delta = o2 * S - P - o; // in [−(K−1), −(K−1) + S − 1], ≤ 0 as K ≥ S
    off[p] = o2;
    before[p] = -delta;
    size = Math.max(size, Math.floor((a.size - 1 - delta) / S) + 1);
  }
  return { axis: { size, off }, before };
}

/** A conv step on windowed forms: the classes of directions (one conv2d each) and the result. */
export interface ConvPlan {
  /** Geometry after the conv, in the original direction order. */
  readonly geom: WinGeom;
  /** Per class: its directions (original order) and the explicit padding of its conv2d. */
  readonly classes: readonly {
    readonly idx: Int32Array;
    readonly pad: [[number, number], [number, number]];
  }[];
}

/** The plan of a conv on a geometry, or null where windows do not apply (kernel < stride). */
export function convPlan(g: WinGeom, cfg: Conv2dCfg): ConvPlan | null {
  const [KH, KW] = cfg.kernel;
  const [SH, SW] = cfg.stride;
  if (KH < SH || KW < SW) return null;
  const [t, , l] = cfg.padding;
  const ys = axisThrough(g.y, KH, SH, t);
  const xs = axisThrough(g.x, KW, SW, l);
  const after = (size: number, outSize: number, K: number, S: number, b: number): number =>
    (outSize - 1) * S + K - size - b;
  const groups = new Map<string, number[]>();
  const n = dirs(g);
  for (let p = 0; p < n; p++) {
    const key = `${ys.before[p]},${xs.before[p]}`;
    const list = groups.get(key);
    if (list) list.push(p);
    else groups.set(key, [p]);
  }
  const classes = [...groups.values()].map((list) => {
    const p0 = list[0]!;
    const [bt, bl] = [ys.before[p0]!, xs.before[p0]!];
    return {
      idx: Int32Array.from(list),
      pad: [
        [bt, after(g.y.size, ys.axis.size, KH, SH, bt)],
        [bl, after(g.x.size, xs.axis.size, KW, SW, bl)],
      ] as [[number, number], [number, number]],
    };
  });
  return { geom: { map: [...cfg.outShape], y: ys.axis, x: xs.axis }, classes };
}

/** The geometry with its directions reordered: entry k of the result is direction order[k]. */
function permuted(g: WinGeom, order: Int32Array): WinGeom {
  const pick = (a: WinAxis): WinAxis => ({ size: a.size, off: Int32Array.from(order, (p) => a.off[p]!) });
  return { map: g.map, y: pick(g.y), x: pick(g.x) };
}

/** 0/1 mask [1, n, h, w, 1] of the window positions inside the map. */
export function insideMask(g: WinGeom): tf.Tensor {
  const n = dirs(g);
  const [h, w] = [g.y.size, g.x.size];
  const [H, W] = g.map;
  const m = new Float32Array(n * h * w);
  for (let p = 0; p < n; p++)
    for (let u = 0; u < h; u++) {
      const yy = g.y.off[p]! + u;
      if (yy < 0 || yy >= H) continue;
      for (let v = 0; v < w; v++) {
        const xx = g.x.off[p]! + v;
        if (xx >= 0 && xx < W) m[(p * h + u) * w + v] = 1;
      }
    }
  return tf.tensor(m, [1, n, h, w, 1]);
}

/**
 * Windowed forms [B·n, h, w, Cin] through a conv with kernel `W` (no bias) along `plan`; returns
 * the forms [B·n, h', w', Cout] (zero outside the map) with the directions in class order, the
 * order of `planGeom(plan)` (the same for the M and R forms).
 */
export function windowConv(
  t: tf.Tensor,
  B: number,
  plan: ConvPlan,
  W: tf.Tensor,
  stride: readonly [number, number],
): tf.Tensor {
  return tf.tidy(() => {
    const [n, h, w, C] = [t.shape[0]! / B, t.shape[1]!, t.shape[2]!, t.shape[3]!];
    const g = planGeom(plan);
    const [h2, w2, C2] = [g.y.size, g.x.size, W.shape[3]!];
    const t5 = tf.reshape(t, [B, n, h, w, C]);
    // each output cell reads at most KH·KW cells of the h×w input window
    const asMatrix = unrolls(h * w * C * h2 * w2 * C2, Math.min(1, (W.shape[0]! * W.shape[1]!) / (h * w)));
    const parts = plan.classes.map((c) => {
      const sub = plan.classes.length === 1 ? t5 : tf.gather(t5, tf.tensor1d(c.idx, 'int32'), 1);
      const k = c.idx.length;
      const pad: tf.backend_util.ExplicitPadding = [[0, 0], c.pad[0], c.pad[1], [0, 0]];
      if (asMatrix) {
        // The conv of a window as one matrix T [h·w·C, h'·w'·C'] (the conv of the unit windows):
        // a plain product without the taps that only meet padding.
        const unit = tf.reshape(tf.eye(h * w * C), [h * w * C, h, w, C]) as tf.Tensor4D;
        const T = tf.reshape(tf.conv2d(unit, W as tf.Tensor4D, [...stride], pad), [h * w * C, h2 * w2 * C2]);
        const y = tf.matMul(tf.reshape(sub, [B * k, h * w * C]) as tf.Tensor2D, T as tf.Tensor2D);
        return tf.reshape(y, [B, k, h2, w2, C2]);
      }
      const y = tf.conv2d(
        tf.reshape(sub, [B * k, h, w, C]) as tf.Tensor4D,
        W as tf.Tensor4D,
        [...stride],
        pad,
      );
      return tf.reshape(y, [B, k, h2, w2, C2]);
    });
    const all = parts.length === 1 ? parts[0]! : tf.concat(parts, 1);
    const masked = tf.mul(all, insideMask(g));
    return tf.reshape(masked, [B * n, h2, w2, C2]);
  });
}

/** Largest unrolled window conv (entries of T) that `windowConv` multiplies as a matrix. */
let UNROLLED_MAX = 2 ** 22;

/**
 * Whether a window step is multiplied as one unrolled matrix T (`entries` of them, a fraction
 * `density` possibly non-zero): when T is small and dense enough that one product beats the
 * convolution kernel, which skips the structural zeros (a 4×4 kernel meets 16 of the 100 cells
 * of a 10×10 window, so its T is 84% zeros).
 */
export const unrolls = (entries: number, density: number): boolean =>
  entries <= UNROLLED_MAX && density >= UNROLLED_MIN_DENSITY;

/** Below this share of possibly non-zero entries, a window step runs as a convolution. */
const UNROLLED_MIN_DENSITY = 0.4;

/** Sets that limit (0: always conv2d; tests run both forms); returns the previous one. */
export function setWindowUnrolledMax(n: number): number {
  const prev = UNROLLED_MAX;
  UNROLLED_MAX = n;
  return prev;
}

/** The direction order after a conv step (classes one after another). */
export function planOrder(plan: ConvPlan): Int32Array {
  if (plan.classes.length === 1) return plan.classes[0]!.idx;
  const order = new Int32Array(plan.classes.reduce((s, c) => s + c.idx.length, 0));
  let k = 0;
  for (const c of plan.classes) {
    order.set(c.idx, k);
    k += c.idx.length;
  }
  return order;
}

/** The geometry after a conv step, in the order its forms come out. */
export function planGeom(plan: ConvPlan): WinGeom {
  return plan.classes.length === 1 ? plan.geom : permuted(plan.geom, planOrder(plan));
}

/** Padding of the map that holds every window, and the padded map's width. */
function padOf(g: WinGeom): { t: number; b: number; l: number; r: number; Hp: number; Wp: number } {
  let [minY, maxY, minX, maxX] = [0, 0, 0, 0];
  for (let p = 0; p < dirs(g); p++) {
    minY = Math.min(minY, g.y.off[p]!);
    maxY = Math.max(maxY, g.y.off[p]! + g.y.size);
    minX = Math.min(minX, g.x.off[p]!);
    maxX = Math.max(maxX, g.x.off[p]! + g.x.size);
  }
  const [H, W] = g.map;
  const pad = { t: -minY, b: Math.max(0, maxY - H), l: -minX, r: Math.max(0, maxX - W) };
  return { ...pad, Hp: H + pad.t + pad.b, Wp: W + pad.l + pad.r };
}

/** For each direction p and window position (u, v): its index in the padded map (Hp·Wp). */
function windowIndexArray(g: WinGeom, withDir: boolean): { idx: Int32Array; pad: ReturnType<typeof padOf> } {
  const pad = padOf(g);
  const n = dirs(g);
  const [h, w] = [g.y.size, g.x.size];
  const idx = new Int32Array(n * h * w);
  for (let p = 0; p < n; p++) {
    const base = withDir ? p * pad.Hp * pad.Wp : 0;
    for (let u = 0; u < h; u++)
      for (let v = 0; v < w; v++)
        idx[(p * h + u) * w + v] = base + (g.y.off[p]! + u + pad.t) * pad.Wp + (g.x.off[p]! + v + pad.l);
  }
  return { idx, pad };
}

function windowIndex(g: WinGeom, withDir: boolean): { idx: tf.Tensor1D; pad: ReturnType<typeof padOf> } {
  const { idx, pad } = windowIndexArray(g, withDir);
  return { idx: tf.tensor1d(idx, 'int32'), pad };
}

/** Maps [N, H, W, C] padded with zeros to hold every window. */
const padMaps = (t: tf.Tensor, pad: ReturnType<typeof padOf>): tf.Tensor =>
  tf.pad(t, [
    [0, 0],
    [pad.t, pad.b],
    [pad.l, pad.r],
    [0, 0],
  ]);

/** Per-neuron values v [B, H, W, C] (or flat [B, H·W·C]) on every direction's window: [B, n, h, w, C]. */
export function gatherWindows(v: tf.Tensor, g: WinGeom): tf.Tensor {
  return tf.tidy(() => {
    const B = v.shape[0]!;
    const [H, W, C] = g.map;
    const { idx, pad } = windowIndex(g, false);
    const padded = padMaps(tf.reshape(v, [B, H, W, C]), pad);
    const got = tf.gather(tf.reshape(padded, [B, pad.Hp * pad.Wp, C]), idx, 1);
    return tf.reshape(got, [B, dirs(g), g.y.size, g.x.size, C]);
  });
}

/** Full-map forms [n, H, W, C] shared by all samples (original direction order) cut to windows [n, h, w, C]. */
export function cutWindows(M: tf.Tensor, g: WinGeom): tf.Tensor {
  return tf.tidy(() => {
    const n = dirs(g);
    const [H, W, C] = g.map;
    const { idx, pad } = windowIndex(g, true);
    const padded = padMaps(tf.reshape(M, [n, H, W, C]), pad);
    return tf.reshape(tf.gather(tf.reshape(padded, [n * pad.Hp * pad.Wp, C]), idx), [
      n,
      g.y.size,
      g.x.size,
      C,
    ]);
  });
}

/**
 * Σ over directions of windowed values t [B·n, h, w, C] placed at their map positions: [B, H·W·C]
 * (the box terms of every neuron).
 */
export function scatterSum(t: tf.Tensor, B: number, g: WinGeom): tf.Tensor {
  return tf.tidy(() => {
    const [H, W, C] = g.map;
    const n = dirs(g);
    const { idx, pad } = windowIndex(g, false);
    const rows = tf.reshape(tf.transpose(tf.reshape(t, [B, n * g.y.size * g.x.size, C]), [1, 0, 2]), [
      n * g.y.size * g.x.size,
      B * C,
    ]);
    const summed = tf.unsortedSegmentSum(rows, idx, pad.Hp * pad.Wp);
    const map = tf.slice(tf.reshape(summed, [pad.Hp, pad.Wp, B, C]), [pad.t, pad.l, 0, 0], [H, W, B, C]);
    return tf.reshape(tf.transpose(map, [2, 0, 1, 3]), [B, H * W * C]);
  });
}

/** Windowed forms [B·n, h, w, C] as full-map forms [B·n, H, W, C] (for the steps that need them). */
export function densify(t: tf.Tensor, B: number, g: WinGeom): tf.Tensor {
  return tf.tidy(() => {
    const [H, W, C] = g.map;
    const n = dirs(g);
    const { idx, pad } = windowIndex(g, true);
    const hw = g.y.size * g.x.size;
    const rows = tf.reshape(tf.transpose(tf.reshape(t, [B, n * hw, C]), [1, 0, 2]), [n * hw, B * C]);
    const placed = tf.unsortedSegmentSum(rows, idx, n * pad.Hp * pad.Wp);
    const map = tf.slice(
      tf.reshape(placed, [n, pad.Hp, pad.Wp, B, C]),
      [0, pad.t, pad.l, 0, 0],
      [n, H, W, B, C],
    );
    return tf.reshape(tf.transpose(map, [3, 0, 1, 2, 4]), [B * n, H, W, C]);
  });
}

/**
 * Windowed forms [B·n, h, w, C] of a flattened map through a dense weight W [H·W·C, out]: the
 * full-width forms [B·n, out] (batched, directions grouped by window), each direction
 * multiplying only the rows of its window. Directions whose windows start at the same place share
 * those rows, so each such group is one product with B·(group size) rows.
 */
export function windowDense(t: tf.Tensor, B: number, g: WinGeom, W: tf.Tensor2D): tf.Tensor {
  return tf.tidy(() => {
    const [H, Wd, C] = g.map;
    const out = W.shape[1];
    const n = dirs(g);
    const hw = g.y.size * g.x.size;
    const { idx, pad } = windowIndexArray(g, false);
    const groups = new Map<number, number[]>();
    for (let p = 0; p < n; p++) {
      const key = idx[p * hw]!; // the window's first position identifies it
      const list = groups.get(key);
      if (list) list.push(p);
      else groups.set(key, [p]);
    }
    const Wp = tf.reshape(
      tf.pad(tf.reshape(W, [H, Wd, C * out]), [
        [pad.t, pad.b],
        [pad.l, pad.r],
        [0, 0],
      ]),
      [pad.Hp * pad.Wp, C * out],
    );
    const lists = [...groups.values()];
    const order = Int32Array.from(lists.flat());
    const sorted = tf.gather(tf.reshape(t, [B, n, hw * C]), tf.tensor1d(order, 'int32'), 1);
    const parts: tf.Tensor[] = [];
    let k0 = 0;
    for (const list of lists) {
      const k = list.length;
      const p = list[0]!;
      const rows = tf.tensor1d(idx.subarray(p * hw, (p + 1) * hw), 'int32');
      const Wk = tf.reshape(tf.gather(Wp, rows), [hw * C, out]) as tf.Tensor2D;
      const Mk = tf.reshape(tf.slice(sorted, [0, k0, 0], [B, k, hw * C]), [B * k, hw * C]) as tf.Tensor2D;
      parts.push(tf.reshape(tf.matMul(Mk, Wk), [B, k, out]));
      k0 += k;
    }
    const all = parts.length === 1 ? parts[0]! : tf.concat(parts, 1); // [B, n, out]
    return tf.reshape(all, [B * n, out]);
  });
}
