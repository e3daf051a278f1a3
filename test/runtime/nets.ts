/**
 * Test helper: random small networks (dense, conv, flatten, ReLU / LeakyReLU / ParamRamp) as IR
 * layers with PyTorch-layout float64 parameters, their internal-layout tfjs tensors, and a runner
 * that composes the `rt.*` primitives per layer exactly as generated code does, for every method.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {
  ActivationOp,
  BoundMethod,
  Layer,
  LineStrategy,
  Op,
  ParamSpec,
  Shape,
} from '../../src/ir/ir.js';
import { numel } from '../../src/ir/ir.js';
import type { RefModel } from '../../src/reference/index.js';
import { initBackend } from '../../src/runtime/backend.js';
import * as rt from '../../src/runtime/index.js';

/** Start a backend through the io helper's initBackend (registers gradients and the wasm kernels). */
export async function useBackend(name: 'wasm' | 'cpu' = 'wasm'): Promise<void> {
  await initBackend(name);
}

/** A layer description for `buildNet`. */
export type LayerDesc =
  | { kind: 'dense'; out: number; bias?: boolean }
  | {
      kind: 'conv2d';
      out: number;
      k: number;
      s: number;
      p: number | [number, number, number, number];
      bias?: boolean;
    }
  | { kind: 'flatten' }
  | { kind: 'relu' }
  | { kind: 'leaky_relu'; slope: number }
  | { kind: 'paramramp'; eta: number };

export interface TestNet {
  readonly model: RefModel;
  /** PyTorch layout, by torch name. */
  readonly torch: Record<string, Float64Array>;
  /** Internal layout, by torch name. */
  readonly params: Record<string, tf.Tensor>;
  readonly inputCfg: rt.InputCfg;
}

const spec = (
  layer: string,
  role: ParamSpec['role'],
  torchShape: Shape,
  fanIn: number,
  from?: Shape,
): ParamSpec => {
  const suffix = role === 'ramp.r' ? 'r' : role === 'bias' ? 'bias' : 'weight';
  return {
    name: `${layer}.${suffix}`,
    ident: `${layer}_${suffix}`,
    role,
    torchShape,
    fanIn,
    ...(from ? { flattenedFrom: from } : {}),
  };
};

/** Build a network with random parameters; weights U(±wScale/√fanIn), biases U(±bScale), r U(rLo, rHi). */
export function buildNet(
  input: { shape: Shape; domain?: [number, number]; mean?: number[]; std?: number[] },
  descs: LayerDesc[],
  seed: number,
  o: { wScale?: number; bScale?: number; r?: [number, number] } = {},
): TestNet {
  const rng = rt.rngFromSeed(seed);
  const uni = (a: number, b: number): number => a + (b - a) * rng.next();
  const layers: Layer[] = [];
  const torch: Record<string, Float64Array> = {};
  const params: Record<string, tf.Tensor> = {};
  let shape: Shape = input.shape;
  let flatFrom: Shape | undefined;
  const counts: Record<string, number> = {};
  descs.forEach((d, index) => {
    counts[d.kind] = (counts[d.kind] ?? 0) + 1;
    const name = `${d.kind}${counts[d.kind]}`;
    let op: Op;
    let outShape: Shape = shape;
    const ps: ParamSpec[] = [];
    const fill = (p: ParamSpec, f: () => number): void => {
      const v = Float64Array.from({ length: numel(p.torchShape) }, f);
      torch[p.name] = v;
      const meta = { ...p, shape: rt.internalShape(p) };
      params[p.name] = tf.tensor(rt.torchToInternal(meta, Float32Array.from(v)), [...meta.shape]);
      ps.push(p);
    };
    if (d.kind === 'dense') {
      const nIn = numel(shape);
      op = { kind: 'dense', out: d.out, bias: d.bias ?? true };
      outShape = [d.out];
      const a = (o.wScale ?? 1) / Math.sqrt(nIn);
      fill(spec(name, 'dense.weight', [d.out, nIn], nIn, flatFrom), () => uni(-a, a));
      flatFrom = undefined;
      if (d.bias ?? true)
        fill(spec(name, 'bias', [d.out], nIn), () => uni(-(o.bScale ?? 0.3), o.bScale ?? 0.3));
    } else if (d.kind === 'conv2d') {
      const [c, h, w] = shape as [number, number, number];
      const pad: [number, number, number, number] = typeof d.p === 'number' ? [d.p, d.p, d.p, d.p] : d.p;
      op = {
        kind: 'conv2d',
        out: d.out,
        kernel: [d.k, d.k],
        stride: [d.s, d.s],
        padding: pad,
        bias: d.bias ?? true,
      };
      outShape = [
        d.out,
        Math.floor((h + pad[0] + pad[1] - d.k) / d.s) + 1,
        Math.floor((w + pad[2] + pad[3] - d.k) / d.s) + 1,
      ];
      const fanIn = c * d.k * d.k;
      const a = (o.wScale ?? 1) / Math.sqrt(fanIn);
      fill(spec(name, 'conv.weight', [d.out, c, d.k, d.k], fanIn), () => uni(-a, a));
      if (d.bias ?? true)
        fill(spec(name, 'bias', [d.out], fanIn), () => uni(-(o.bScale ?? 0.3), o.bScale ?? 0.3));
    } else if (d.kind === 'flatten') {
      op = { kind: 'flatten' };
      outShape = [numel(shape)];
      if (shape.length === 3) flatFrom = shape;
    } else {
      op =
        d.kind === 'relu'
          ? { kind: 'relu' }
          : d.kind === 'leaky_relu'
            ? { kind: 'leaky_relu', slope: d.slope }
            : { kind: 'paramramp', eta: d.eta };
      if (d.kind === 'paramramp') {
        const [lo, hi] = o.r ?? [0.05, 1.5];
        fill(spec(name, 'ramp.r', shape, 1), () => uni(lo, hi));
      }
    }
    layers.push({
      index,
      name,
      ident: name,
      op,
      inputs: [index === 0 ? 'input' : layers[index - 1]!.name],
      inShapes: [shape],
      inShape: shape,
      outShape,
      params: ps,
      origin: { line: index + 1, col: 1, start: 0, end: 0 },
    });
    shape = outShape;
  });
  const inp = {
    shape: input.shape,
    domain: input.domain ?? [0, 1],
    mean: input.mean ?? [0],
    std: input.std ?? [1],
  } as const;
  return {
    model: { input: inp, layers, classes: numel(shape) },
    torch,
    params,
    inputCfg: { shape: rt.internalActShape(input.shape), domain: inp.domain, mean: inp.mean, std: inp.std },
  };
}

const convCfg = (l: Layer): rt.Conv2dCfg => {
  const op = l.op as Extract<Op, { kind: 'conv2d' }>;
  return {
    kernel: op.kernel,
    stride: op.stride,
    padding: op.padding,
    inShape: rt.internalActShape(l.inShape) as [number, number, number],
    outShape: rt.internalActShape(l.outShape) as [number, number, number],
  };
};

const wOf = (net: TestNet, l: Layer): tf.Tensor => net.params[`${l.name}.weight`]!;
const bOf = (net: TestNet, l: Layer): tf.Tensor1D | undefined =>
  net.params[`${l.name}.bias`] as tf.Tensor1D | undefined;

function actSpec(net: TestNet, l: Layer, o: rt.RunOptions): rt.ActSpec {
  const op = l.op as ActivationOp;
  if (op.kind === 'relu') return rt.relu();
  if (op.kind === 'leaky_relu') return rt.leakyRelu(op.slope, o);
  if (op.kind === 'sigmoid') return rt.sigmoidAct();
  if (op.kind === 'tanh') return rt.tanhAct();
  return rt.paramRamp(net.params[`${l.name}.r`]!, op.eta, o);
}

/** Raw inputs (internal layout) from PyTorch-layout rows. */
export function toInternal(net: TestNet, x: Float64Array, batch: number): tf.Tensor {
  const s = net.model.input.shape;
  const data = s.length === 3 ? rt.chwToHwc(Float32Array.from(x), s[0]!, s[1]!, s[2]!) : Float32Array.from(x);
  return tf.tensor(data, [batch, ...net.inputCfg.shape]);
}

/** Internal-layout [B, ...] activation bounds → per-sample PyTorch (C,H,W) order rows. */
export function toTorchRows(t: tf.Tensor, torchShape: Shape): Float64Array[] {
  const B = t.shape[0]!;
  let d = t.dataSync() as Float32Array;
  if (torchShape.length === 3) d = rt.hwcToChw(d, torchShape[0]!, torchShape[1]!, torchShape[2]!);
  const n = d.length / B;
  return Array.from({ length: B }, (_, b) => Float64Array.from(d.subarray(b * n, (b + 1) * n)));
}

export interface RunResult {
  readonly lower: tf.Tensor;
  readonly upper: tf.Tensor;
  readonly logits: tf.Tensor;
  /** Pre-activation bounds per activation layer. */
  readonly pre: { layer: Layer; l: tf.Tensor; u: tf.Tensor }[];
}

export interface RunOpts extends rt.RunOptions {
  readonly lines?: LineStrategy;
  readonly C?: tf.Tensor3D;
  readonly lowerOnly?: boolean;
}

/** Clean logits of a raw input through rt.normalize, rt.dense / conv2d / flatten / actForward. */
export function runForward(net: TestNet, x: tf.Tensor, o: rt.RunOptions = {}): tf.Tensor {
  return forwardNormalized(net, rt.normalize(x, net.inputCfg), o);
}

/** Clean logits of an already normalised input (e.g. box.x). */
function forwardNormalized(net: TestNet, x: tf.Tensor, o: rt.RunOptions): tf.Tensor {
  let h = x;
  for (const l of net.model.layers) {
    if (l.op.kind === 'dense') h = rt.dense(h as tf.Tensor2D, wOf(net, l) as tf.Tensor2D, bOf(net, l));
    else if (l.op.kind === 'conv2d')
      h = rt.conv2d(h as tf.Tensor4D, wOf(net, l) as tf.Tensor4D, bOf(net, l), convCfg(l));
    else if (l.op.kind === 'flatten') h = rt.flatten(h);
    else h = rt.actForward(h, actSpec(net, l, o));
  }
  return h;
}

/** The backward chain from just below layer index `top` down to the input. */
function backChain(
  net: TestNet,
  top: number,
  rels: Map<number, rt.ActRelaxation>,
): (f: rt.BackState) => rt.BackState {
  return (f0) => {
    let f = f0;
    for (let k = top; k >= 0; k--) {
      const l = net.model.layers[k]!;
      if (l.op.kind === 'dense') f = rt.backDense(f, wOf(net, l) as tf.Tensor2D, bOf(net, l));
      else if (l.op.kind === 'conv2d')
        f = rt.backConv2d(f, wOf(net, l) as tf.Tensor4D, bOf(net, l), convCfg(l));
      else if (l.op.kind === 'flatten') f = rt.backFlatten(f, rt.internalActShape(l.inShape));
      else f = rt.backAct(f, rels.get(k)!);
    }
    return f;
  };
}

/** One bound method composed from rt.* primitives, as generated code would. */
export function runBounds(net: TestNet, box: rt.InputBox, method: BoundMethod, o: RunOpts = {}): RunResult {
  const lines = o.lines ?? 'tight';
  const layers = net.model.layers;
  const last = layers.length - 1;
  const pre: RunResult['pre'] = [];
  const rels = new Map<number, rt.ActRelaxation>();
  const B = box.x.shape[0]!;
  const lastW = wOf(net, layers[last]!) as tf.Tensor2D;
  const lastB = bOf(net, layers[last]!);

  if (method === 'ibp' || method === 'crown-ibp') {
    let s = rt.ibpInput(box);
    layers.forEach((l, k) => {
      if (k === last) s = rt.ibpLast(s, lastW, lastB, method === 'ibp' ? o.C : undefined);
      else if (l.op.kind === 'dense') s = rt.ibpDense(s, wOf(net, l) as tf.Tensor2D, bOf(net, l));
      else if (l.op.kind === 'conv2d')
        s = rt.ibpConv2d(s, wOf(net, l) as tf.Tensor4D, bOf(net, l), convCfg(l));
      else if (l.op.kind === 'flatten') s = rt.ibpFlatten(s);
      else {
        const a = actSpec(net, l, o);
        pre.push({ layer: l, l: s.l, u: s.u });
        rels.set(k, rt.relax(a, s.l, s.u, lines));
        s = rt.ibpAct(s, a);
      }
    });
    if (method === 'ibp') return { lower: s.l, upper: s.u, logits: s.x!, pre };
    const r = rt.backConcretize(
      backChain(net, last - 1, rels)(rt.backLast(lastW, lastB, o.C, B, !!o.lowerOnly)),
      box,
    );
    return { lower: r.lower, upper: r.upper ?? tf.fill(r.lower.shape, Infinity), logits: s.x!, pre };
  }
  if (method === 'lbp' || method === 'crown-lbp') {
    let s = rt.lbpInput(box);
    layers.forEach((l, k) => {
      if (k === last) s = rt.lbpLast(s, lastW, lastB, method === 'lbp' ? o.C : undefined);
      else if (l.op.kind === 'dense') s = rt.lbpDense(s, wOf(net, l) as tf.Tensor2D, bOf(net, l));
      else if (l.op.kind === 'conv2d')
        s = rt.lbpConv2d(s, wOf(net, l) as tf.Tensor4D, bOf(net, l), convCfg(l));
      else if (l.op.kind === 'flatten') s = rt.lbpFlatten(s);
      else {
        const rel = rt.relax(actSpec(net, l, o), s.l, s.u, lines);
        pre.push({ layer: l, l: s.l, u: s.u });
        rels.set(k, rel);
        s = rt.lbpAct(s, rel);
      }
    });
    if (method === 'lbp') return { lower: s.l, upper: s.u, logits: s.x!, pre };
    const r = rt.backConcretize(
      backChain(net, last - 1, rels)(rt.backLast(lastW, lastB, o.C, B, !!o.lowerOnly)),
      box,
    );
    return { lower: r.lower, upper: r.upper ?? tf.fill(r.lower.shape, Infinity), logits: s.x!, pre };
  }
  // Full CROWN: every activation's input bounded by its own backward pass.
  layers.forEach((l, k) => {
    if (l.op.kind === 'dense' || l.op.kind === 'conv2d' || l.op.kind === 'flatten') return;
    const a = actSpec(net, l, o);
    const { lower, upper } = rt.crownLayer(
      box,
      rt.internalActShape(l.inShape),
      false,
      backChain(net, k - 1, rels),
    );
    pre.push({ layer: l, l: lower, u: upper });
    rels.set(k, rt.relax(a, lower, upper, lines));
  });
  const r = rt.backConcretize(
    backChain(net, last - 1, rels)(rt.backLast(lastW, lastB, o.C, B, !!o.lowerOnly)),
    box,
  );
  return {
    lower: r.lower,
    upper: r.upper ?? tf.fill(r.lower.shape, Infinity),
    logits: forwardNormalized(net, box.x, o), // full CROWN has no clean pass of its own
    pre,
  };
}

/** Random raw inputs inside the domain, PyTorch layout. */
export function randomInputs(net: TestNet, batch: number, seed: number): Float64Array {
  const rng = rt.rngFromSeed(seed);
  const [d0, d1] = net.model.input.domain;
  return Float64Array.from({ length: batch * numel(net.model.input.shape) }, () => {
    const v = rng.next();
    // Some values on the domain edges, so the clamp of the box matters.
    return v < 0.1 ? d0 : v > 0.9 ? d1 : d0 + (d1 - d0) * rng.next();
  });
}

/** Rows of a 2-D tensor as numbers. */
export const rows = (t: tf.Tensor): number[][] => t.arraySync() as number[][];

/** max over entries of |a − b| / (1 + |b|). */
export function relErr(a: ArrayLike<number>[], b: ArrayLike<number>[]): number {
  let w = 0;
  a.forEach((row, i) =>
    Array.from(row).forEach((v, j) => (w = Math.max(w, Math.abs(v - b[i]![j]!) / (1 + Math.abs(b[i]![j]!))))),
  );
  return w;
}

/**
 * Gradients of `loss` with respect to every parameter of `net` (as fresh variables), one array per
 * parameter, and the number of tensors the pass left behind (0 when nothing leaks).
 */
export function paramGrads(
  net: TestNet,
  loss: (n: TestNet) => tf.Scalar,
): { grads: Float32Array[]; leaked: number } {
  const vars = Object.fromEntries(Object.entries(net.params).map(([k, v]) => [k, tf.variable(v)]));
  const before = tf.memory().numTensors;
  const { value, grads: g } = tf.variableGrads(() => loss({ ...net, params: vars }), Object.values(vars));
  const grads = Object.values(vars).map((v) => g[v.name]!.dataSync() as Float32Array);
  tf.dispose([value, ...Object.values(g)]);
  const leaked = tf.memory().numTensors - before;
  tf.dispose(Object.values(vars));
  return { grads, leaked };
}

/**
 * Margin bounds (labels → C = e_y − e_j) of `method` on the ε-box around raw inputs x, and every
 * activation's pre-activation bounds, as plain rows.
 */
export function marginRows(
  net: TestNet,
  x: Float64Array,
  batch: number,
  eps: number,
  method: BoundMethod,
  lines: LineStrategy,
  labels: readonly number[],
): { lower: number[][]; upper: number[][]; pre: number[][][][] } {
  return tf.tidy(() => {
    const box = rt.inputBox(toInternal(net, x, batch), eps, net.inputCfg);
    const C = rt.marginSpec(tf.tensor1d([...labels], 'int32'), net.model.classes);
    const r = runBounds(net, box, method, { lines, C });
    return {
      lower: rows(r.lower),
      upper: rows(r.upper),
      pre: r.pre.map((p) => [rows(tf.reshape(p.l, [batch, -1])), rows(tf.reshape(p.u, [batch, -1]))]),
    };
  });
}

/**
 * The largest relErr between two `marginRows` results over the margin bounds and every layer's
 * pre-activation bounds (two paths that must compute the same thing).
 */
export function boundsRelErr(a: ReturnType<typeof marginRows>, b: ReturnType<typeof marginRows>): number {
  return Math.max(
    relErr(a.lower, b.lower),
    relErr(a.upper, b.upper),
    ...a.pre.flatMap(([l, u], i) => [relErr(l!, b.pre[i]![0]!), relErr(u!, b.pre[i]![1]!)]),
  );
}
