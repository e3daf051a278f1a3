/**
 * Import phase 4: the normalised ONNX graph (graph.ts) → a vnet network: input (shape,
 * normalisation), layers (IR ops with their float64 weights in PyTorch layout) and classes.
 *
 * Today's IR is a chain of dense / conv2d / flatten / relu / leaky_relu layers, so the mapping
 * walks the chain from the input and merges ONNX nodes into layers:
 * - elementwise Sub/Add/Mul/Div by constants and BatchNormalization directly after the input
 *   become the spec's per-channel `mean`/`std` when they are exactly that (a per-channel affine
 *   map with positive scale); otherwise they are folded into the first dense layer;
 * - the same ops (and BatchNormalization) after a Gemm/MatMul/Conv fold into its weight and bias;
 * - Gemm (transA/transB/alpha/beta) and MatMul (either operand constant) → dense; Conv → conv2d;
 *   a zero Pad before a Conv → the conv's padding;
 * - Flatten/Reshape/Squeeze/Unsqueeze: `flatten` where they turn an image into a vector, no layer
 *   where they only change unit dimensions, and at the input they fix its layout;
 * - Transpose [0, 3, 1, 2] right after an NHWC input makes it vnet's C,H,W input.
 * A network whose last layer is not a dense gets an identity dense head (exact).
 *
 * The input (documented in the written spec): an ONNX input [1, C, H, W] or [C, H, W] with
 * H, W > 1 is the image C×H×W, element (c, h, w) is ONNX index (c·H + h)·W + w (row-major, the
 * order of VNN-LIB's X_i); through an NHWC Transpose, (c, h, w) is ONNX index (h·W + w)·C + c;
 * every other input shape ([1, 784, 1], [1, 1, 1, 5], [5], ...) is the vector of its numel values
 * in row-major order.
 */
import type { Op, Padding4 } from '../ir/ir.js';
import type { Tensor } from './proto.js';
import {
  attrInt,
  attrInts,
  ImportError,
  nodeError,
  nodeLabel,
  spatialPads,
  type GNode,
  type Graph,
} from './graph.js';
import { broadcastShape, broadcastTo, numel, transpose } from './tensor.js';

export interface VParam {
  readonly param: 'weight' | 'bias';
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

export interface VLayer {
  readonly name: string;
  readonly op: Op;
  /** Input node names; `input` is the network input. */
  readonly inputs: readonly string[];
  /** The ONNX nodes merged into this layer, as `name (OpType)` (raw text: sanitise to print). */
  readonly onnx: readonly string[];
  readonly params: readonly VParam[];
  /** Why the layer exists when no ONNX node made it (e.g. the identity head). */
  readonly note?: string;
}

export interface VNetwork {
  readonly input: {
    readonly shape: readonly number[];
    readonly mean: readonly number[];
    readonly std: readonly number[];
    /** The ONNX input and how its elements map onto vnet's input. */
    readonly onnxName: string;
    readonly onnxShape: readonly number[];
    readonly layout: 'vector' | 'nchw' | 'nhwc';
    /** ONNX nodes absorbed into the input (normalisation, layout). */
    readonly onnx: readonly string[];
  };
  readonly classes: number;
  readonly layers: readonly VLayer[];
}

/** The layer kinds that vnet's IR has today (for the "not yet" errors). */
const VNET_LAYERS =
  'dense, conv2d, flatten, relu, leaky_relu, sigmoid, tanh, maxpool (and the input normalisation mean/std)';

const isVectorShape = (s: readonly number[]): boolean => s.filter((d) => d !== 1).length <= 1;
const imageOf = (s: readonly number[]): number[] | undefined => {
  const d = s.length === 4 && s[0] === 1 ? s.slice(1) : s.length === 3 ? [...s] : undefined;
  return d && d[1]! > 1 && d[2]! > 1 ? d : undefined;
};

/** Per-element affine map x ↦ a·x + b (a running fold of elementwise ops). */
interface Affine {
  a: Float64Array;
  b: Float64Array;
}

class Mapper {
  private readonly layers: VLayer[] = [];
  private readonly counts = new Map<string, number>();
  private cur: string;
  /** vnet shape of the current value; undefined while the input layout is still open. */
  private vshape: number[] | undefined;
  private layout: 'vector' | 'nchw' | 'nhwc' | undefined;
  /** Pending elementwise affine of the input (in the current value's row-major order). */
  private inputAffine: Affine | undefined;
  private readonly inputOnnx: string[] = [];
  private mean: number[] = [0];
  private std: number[] = [1];
  private normDone = false;
  /** A zero Pad waiting for the Conv that follows: [top, left, bottom, right]. */
  private pendingPad: { pads: number[]; label: string } | undefined;
  /** Which node consumes each value. */
  private readonly consumers = new Map<string, GNode[]>();

  constructor(private readonly g: Graph) {
    this.cur = g.input.name;
    for (const n of g.nodes)
      for (const v of new Set(n.inputs))
        if (v !== '' && !g.consts.has(v)) this.consumers.set(v, [...(this.consumers.get(v) ?? []), n]);
  }

  private shapeOf(v: string): readonly number[] {
    return this.g.shapes.get(v)!;
  }
  private label(n: GNode): string {
    return `${nodeLabel(n, n.index)} (${n.opType})`;
  }
  private const(n: GNode, i: number): Tensor | undefined {
    return this.g.consts.get(n.inputs[i] ?? '');
  }
  private nextName(kind: string, prefix: string): string {
    const c = (this.counts.get(kind) ?? 0) + 1;
    this.counts.set(kind, c);
    return `${prefix}${c}`;
  }
  private get last(): VLayer | undefined {
    return this.layers[this.layers.length - 1];
  }
  private push(layer: Omit<VLayer, 'inputs'>): void {
    this.layers.push({ ...layer, inputs: [this.last?.name ?? 'input'] });
  }

  run(): VNetwork {
    const g = this.g;
    while (this.cur !== g.output) {
      const users = this.consumers.get(this.cur) ?? [];
      if (users.length !== 1)
        throw new ImportError(
          users.length === 0
            ? `the ONNX value '${this.cur}' is not used, but the output '${g.output}' is not reached from it`
            : `the ONNX value '${this.cur}' feeds ${users.length} nodes (${users.map((u) => `'${nodeLabel(u, u.index)}'`).join(', ')}): branching graphs (residual blocks) are not supported by vnet's sequential IR yet`,
        );
      const n = users[0]!;
      const data = n.inputs.filter((v) => v !== '' && !g.consts.has(v));
      if (data.length !== 1)
        throw nodeError(
          n,
          n.index,
          `combines ${data.length} computed values: branching graphs are not supported by vnet's sequential IR yet`,
        );
      this.node(n);
      this.cur = n.output;
    }
    if (this.pendingPad)
      throw new ImportError(
        `ONNX node ${this.pendingPad.label}: a Pad is supported only directly before a Conv`,
      );
    this.finishNorm(undefined);
    const outShape = this.shapeOf(g.output);
    if (this.vshape === undefined) this.decide(isVectorShape(outShape) ? 'vector' : 'image', undefined);
    if (this.vshape!.length === 3)
      this.push({ name: this.nextName('flatten', 'flatten'), op: { kind: 'flatten' }, onnx: [], params: [] });
    const K = numel(outShape);
    if (this.last?.op.kind !== 'dense') {
      const w = new Float64Array(K * K);
      for (let i = 0; i < K; i++) w[i * K + i] = 1;
      this.push({
        name: this.nextName('dense', 'fc'),
        op: { kind: 'dense', out: K, bias: false },
        onnx: [],
        params: [{ param: 'weight', shape: [K, K], data: w }],
        note: 'identity head: vnet networks end with a dense layer',
      });
    }
    return {
      input: {
        shape: this.inputShape!,
        mean: this.mean,
        std: this.std,
        onnxName: g.input.name,
        onnxShape: g.input.shape,
        layout: this.layout!,
        onnx: this.inputOnnx,
      },
      classes: K,
      layers: this.layers,
    };
  }

  private inputShape: number[] | undefined;

  /** Fixes the input layout: 'vector' (numel values) or the image of the current value's shape. */
  private decide(kind: 'vector' | 'image', n: GNode | undefined): void {
    if (this.vshape !== undefined) return;
    const s = this.shapeOf(this.cur);
    if (kind === 'vector') {
      this.vshape = [numel(s)];
      this.layout = 'vector';
    } else {
      const img = imageOf(s);
      if (img === undefined) {
        const why = `needs an image input [1, C, H, W], got [${s.join(', ')}]`;
        throw n ? nodeError(n, n.index, why) : new ImportError(`the network output ${why}`);
      }
      this.vshape = img;
      this.layout = this.layout ?? 'nchw';
    }
    this.inputShape = [...this.vshape];
  }

  /** Turns the pending input affine into mean/std, or folds it into `dense` (its first layer). */
  private finishNorm(dense: { w: Float64Array; b: Float64Array; inN: number } | undefined): void {
    if (this.normDone) return;
    this.normDone = true;
    const aff = this.inputAffine;
    if (aff === undefined) return;
    const shape = this.inputShape ?? [aff.a.length];
    const C = shape.length === 3 ? shape[0]! : shape[0]!;
    const per = aff.a.length / C;
    const mean: number[] = [];
    const std: number[] = [];
    let ok = true;
    for (let c = 0; c < C && ok; c++) {
      const a = aff.a[c * per]!;
      const b = aff.b[c * per]!;
      for (let i = c * per; i < (c + 1) * per; i++) if (aff.a[i] !== a || aff.b[i] !== b) ok = false;
      if (!(a > 0)) ok = false;
      std.push(1 / a);
      mean.push(-b / a);
    }
    if (ok) {
      const same = (v: number[]): number[] => (v.every((x) => x === v[0]) ? [v[0]!] : v);
      this.mean = same(mean);
      this.std = same(std);
      return;
    }
    if (dense === undefined)
      throw new ImportError(
        `the elementwise operations on the input (${this.inputOnnx.join(', ')}) are not a per-channel normalisation with a positive scale, and no dense layer follows to fold them into`,
      );
    // W (a ⊙ x + b) + c = (W diag a) x + (W b + c)
    const { w, b, inN } = dense;
    const out = b.length;
    for (let o = 0; o < out; o++) {
      let s = 0;
      for (let i = 0; i < inN; i++) {
        s += w[o * inN + i]! * aff.b[i]!;
        w[o * inN + i] = w[o * inN + i]! * aff.a[i]!;
      }
      b[o] = b[o]! + s;
    }
  }

  /** The constant operand of an elementwise op broadcast onto the current value, or an error. */
  private elementwise(n: GNode): { c: Float64Array; constFirst: boolean } {
    const cur = this.shapeOf(this.cur);
    const constFirst = n.inputs[0] !== this.cur;
    const t = this.const(n, constFirst ? 0 : 1)!;
    const s = broadcastShape(cur, t.dims);
    if (s === undefined || s.length !== cur.length || s.some((d, i) => d !== cur[i]))
      throw nodeError(
        n,
        n.index,
        `the constant [${t.dims.join(', ')}] would change the shape [${cur.join(', ')}]`,
      );
    return { c: broadcastTo(t, cur), constFirst };
  }

  /** Applies x ↦ a·x + b (per element of the current value) to `aff`. */
  private static compose(aff: Affine, a: Float64Array, b: Float64Array): void {
    for (let i = 0; i < aff.a.length; i++) {
      aff.a[i] = a[i]! * aff.a[i]!;
      aff.b[i] = a[i]! * aff.b[i]! + b[i]!;
    }
  }

  /** The per-element affine map of an elementwise node (Add/Sub/Mul/Div by a constant, BatchNormalization). */
  private affineOf(n: GNode): { a: Float64Array; b: Float64Array } {
    const cur = this.shapeOf(this.cur);
    const N = numel(cur);
    const ones = new Float64Array(N).fill(1);
    const zeros = new Float64Array(N);
    if (n.opType === 'BatchNormalization') {
      if (attrInt(n, 'training_mode', 0))
        throw nodeError(n, n.index, 'training-mode BatchNormalization is not supported');
      const eps = (n.attrs.get('epsilon') as number | undefined) ?? 1e-5;
      const [scale, bias, mean, v] = [1, 2, 3, 4].map((i) => this.const(n, i));
      if (!scale || !bias || !mean || !v)
        throw nodeError(n, n.index, 'scale, bias, mean and variance must be constants');
      if (cur.length < 2) throw nodeError(n, n.index, `needs an input [N, C, ...], got [${cur.join(', ')}]`);
      const C = cur[1]!;
      const inner = numel(cur.slice(2));
      const a = new Float64Array(N);
      const b = new Float64Array(N);
      for (let i = 0; i < N; i++) {
        const c = Math.floor(i / inner) % C;
        const s = scale.data[c]! / Math.sqrt(v.data[c]! + eps);
        a[i] = s;
        b[i] = bias.data[c]! - mean.data[c]! * s;
      }
      return { a, b };
    }
    const { c, constFirst } = this.elementwise(n);
    switch (n.opType) {
      case 'Add':
        return { a: ones, b: c };
      case 'Sub':
        return constFirst ? { a: ones.map(() => -1), b: c } : { a: ones, b: c.map((v) => -v) };
      case 'Mul':
        return { a: c, b: zeros };
      default:
        if (constFirst)
          throw nodeError(n, n.index, 'a constant divided by the network value is not linear; not supported');
        if (c.some((v) => v === 0)) throw nodeError(n, n.index, 'division by zero');
        return { a: c.map((v) => 1 / v), b: zeros };
    }
  }

  private node(n: GNode): void {
    const label = this.label(n);
    const outShape = this.shapeOf(n.output);
    switch (n.opType) {
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div':
      case 'BatchNormalization': {
        const { a, b } = this.affineOf(n);
        const last = this.last;
        if (last === undefined) {
          this.inputAffine ??= { a: new Float64Array(a.length).fill(1), b: new Float64Array(a.length) };
          Mapper.compose(this.inputAffine, a, b);
          this.inputOnnx.push(label);
          return;
        }
        if (last.op.kind === 'dense' || last.op.kind === 'conv2d')
          return this.foldIntoAffine(n, last, a, b, label);
        throw nodeError(
          n,
          n.index,
          `${n.opType === 'BatchNormalization' ? 'BatchNormalization' : `${n.opType} of a constant`} after a ${last.op.kind} layer is not supported by vnet's sequential IR yet (it folds only into the input normalisation or a preceding dense/conv layer); vnet's layers: ${VNET_LAYERS}`,
        );
      }
      case 'Relu':
        return this.activation(n, { kind: 'relu' }, label);
      case 'LeakyRelu': {
        const alpha = n.attrs.get('alpha');
        return this.activation(
          n,
          { kind: 'leaky_relu', slope: typeof alpha === 'number' ? alpha : 0.01 },
          label,
        );
      }
      case 'Gemm':
      case 'MatMul':
        return this.dense(n, label);
      case 'Conv':
        return this.conv(n, label);
      case 'Pad':
        return this.pad(n, label);
      case 'Flatten':
      case 'Reshape':
      case 'Squeeze':
      case 'Unsqueeze':
        return this.reshape(n, outShape, label);
      case 'Transpose':
        return this.transpose(n, outShape, label);
      case 'Sigmoid':
        return this.activation(n, { kind: 'sigmoid' }, label);
      case 'Tanh':
        return this.activation(n, { kind: 'tanh' }, label);
      case 'MaxPool':
        return this.maxpool(n, label);
      default:
        throw nodeError(
          n,
          n.index,
          `vnet's IR has no layer for ${n.opType} yet (the graph IR of issue 12 adds it); vnet's layers today: ${VNET_LAYERS}`,
        );
    }
  }

  private activation(n: GNode, op: Op, label: string): void {
    if (this.pendingPad) throw nodeError(n, n.index, 'a Pad is supported only directly before a Conv');
    if (this.vshape === undefined) this.decide(imageOf(this.shapeOf(this.cur)) ? 'image' : 'vector', n);
    this.finishNorm(undefined);
    this.push({ name: this.nextName(op.kind, op.kind), op, onnx: [label], params: [] });
  }

  private foldIntoAffine(n: GNode, last: VLayer, a: Float64Array, b: Float64Array, label: string): void {
    const out = last.op.kind === 'dense' ? last.op.out : (last.op as { out: number }).out;
    const N = a.length;
    const inner = N / out;
    // per output unit (dense) or channel (conv): a and b must be constant over the spatial positions
    const ua = new Float64Array(out);
    const ub = new Float64Array(out);
    for (let o = 0; o < out; o++) {
      ua[o] = a[o * inner]!;
      ub[o] = b[o * inner]!;
      for (let i = o * inner; i < (o + 1) * inner; i++)
        if (a[i] !== ua[o] || b[i] !== ub[o])
          throw nodeError(
            n,
            n.index,
            `the constant varies over the positions of a channel of '${last.name}' and cannot fold into it`,
          );
    }
    const w = last.params.find((p) => p.param === 'weight')!;
    const per = w.data.length / out;
    const wd = Float64Array.from(w.data);
    for (let o = 0; o < out; o++) for (let i = 0; i < per; i++) wd[o * per + i] = wd[o * per + i]! * ua[o]!;
    const oldB = last.params.find((p) => p.param === 'bias')?.data ?? new Float64Array(out);
    const bd = new Float64Array(out);
    let hasBias = last.params.some((p) => p.param === 'bias');
    for (let o = 0; o < out; o++) {
      bd[o] = ua[o]! * oldB[o]! + ub[o]!;
      if (ub[o] !== 0) hasBias = true;
    }
    const params: VParam[] = [{ param: 'weight', shape: w.shape, data: wd }];
    if (hasBias) params.push({ param: 'bias', shape: [out], data: bd });
    const op = { ...last.op, bias: hasBias } as Op;
    this.layers[this.layers.length - 1] = { ...last, op, params, onnx: [...last.onnx, label] };
  }

  private dense(n: GNode, label: string): void {
    if (this.pendingPad) throw nodeError(n, n.index, 'a Pad is supported only directly before a Conv');
    const cur = this.shapeOf(this.cur);
    const outShape = this.shapeOf(n.output);
    let W: Float64Array; // [out, in]
    let inN: number;
    let outN: number;
    let bias: Float64Array | undefined;
    if (n.opType === 'Gemm') {
      if (n.inputs[0] !== this.cur)
        throw nodeError(n, n.index, 'the network value must be the first operand (A) of Gemm');
      const B = this.const(n, 1);
      if (!B) throw nodeError(n, n.index, 'the second operand (B) must be a constant');
      const transB = attrInt(n, 'transB', 0) === 1;
      const alpha = (n.attrs.get('alpha') as number | undefined) ?? 1;
      const beta = (n.attrs.get('beta') as number | undefined) ?? 1;
      const Wt = transB ? B : transpose(B);
      [outN, inN] = Wt.dims as [number, number];
      W = Wt.data.map((v) => v * alpha);
      const C = this.const(n, 2);
      if (n.inputs[2] && !C) throw nodeError(n, n.index, 'the bias operand (C) must be a constant');
      if (C) {
        const s = broadcastShape([1, outN], C.dims);
        if (s === undefined || s[0] !== 1 || s.length !== 2)
          throw nodeError(n, n.index, `the bias [${C.dims.join(', ')}] is not one value per output`);
        bias = broadcastTo(C, [1, outN]).map((v) => v * beta);
      }
    } else {
      const constFirst = n.inputs[0] !== this.cur;
      const M = this.const(n, constFirst ? 0 : 1);
      if (!M || M.dims.length !== 2) throw nodeError(n, n.index, 'one operand must be a constant matrix');
      if (cur.length > 2)
        throw nodeError(n, n.index, `batched MatMul of [${cur.join(', ')}] is not supported`);
      if (constFirst) {
        // M [out, in] · x [in] or [in, 1]
        if (cur.length === 2 && cur[1] !== 1)
          throw nodeError(n, n.index, `M · x needs x as a column, got [${cur.join(', ')}]`);
        [outN, inN] = M.dims as [number, number];
        W = Float64Array.from(M.data);
      } else {
        if (cur.length === 2 && cur[0] !== 1)
          throw nodeError(n, n.index, `x · M needs x as a row, got [${cur.join(', ')}]`);
        const Wt = transpose(M);
        [outN, inN] = Wt.dims as [number, number];
        W = Wt.data;
      }
    }
    if (numel(cur) !== inN)
      throw nodeError(n, n.index, `expects ${inN} inputs, the value has shape [${cur.join(', ')}]`);
    if (numel(outShape) !== outN) throw nodeError(n, n.index, 'unexpected output shape');
    if (this.vshape === undefined) this.decide('vector', n);
    if (this.vshape!.length !== 1)
      throw nodeError(n, n.index, `needs a vector input, the value is an image [${cur.join(', ')}]`);
    const b = bias ?? new Float64Array(outN);
    this.finishNorm({ w: W, b, inN });
    const hasBias = bias !== undefined || b.some((v) => v !== 0);
    const params: VParam[] = [{ param: 'weight', shape: [outN, inN], data: W }];
    if (hasBias) params.push({ param: 'bias', shape: [outN], data: b });
    this.push({
      name: this.nextName('dense', 'fc'),
      op: { kind: 'dense', out: outN, bias: hasBias },
      onnx: [label],
      params,
    });
    this.vshape = [outN];
  }

  private conv(n: GNode, label: string): void {
    if (n.inputs[0] !== this.cur)
      throw nodeError(n, n.index, 'the network value must be the first input of Conv');
    const Wt = this.const(n, 1);
    if (!Wt || Wt.dims.length !== 4)
      throw nodeError(n, n.index, 'the weight must be a constant [out, in, kh, kw]');
    if (attrInt(n, 'group', 1) !== 1)
      throw nodeError(
        n,
        n.index,
        `group = ${attrInt(n, 'group', 1)} (grouped/depthwise convolution) is not supported by vnet's conv2d yet`,
      );
    const dil = attrInts(n, 'dilations') ?? [1, 1];
    if (dil.some((d) => d !== 1))
      throw nodeError(n, n.index, `dilations [${dil.join(', ')}] are not supported by vnet's conv2d yet`);
    if (this.vshape === undefined) this.decide('image', n);
    if (this.vshape!.length !== 3) throw nodeError(n, n.index, 'needs an image input');
    const [out, cin, kh, kw] = Wt.dims as [number, number, number, number];
    const strides = attrInts(n, 'strides') ?? [1, 1];
    const cur = this.shapeOf(this.cur);
    const p = spatialPads(n, cur.slice(2), [kh, kw], strides, dil);
    const extra = this.pendingPad?.pads ?? [0, 0, 0, 0];
    const padding: Padding4 = [p[0]! + extra[0]!, p[2]! + extra[2]!, p[1]! + extra[1]!, p[3]! + extra[3]!];
    const onnx = this.pendingPad ? [this.pendingPad.label, label] : [label];
    this.pendingPad = undefined;
    this.finishNorm(undefined);
    const B = this.const(n, 2);
    if (n.inputs[2] && !B) throw nodeError(n, n.index, 'the bias must be a constant');
    const params: VParam[] = [
      { param: 'weight', shape: [out, cin, kh, kw], data: Float64Array.from(Wt.data) },
    ];
    if (B) params.push({ param: 'bias', shape: [out], data: Float64Array.from(B.data) });
    this.push({
      name: this.nextName('conv2d', 'conv'),
      op: {
        kind: 'conv2d',
        out,
        kernel: [kh, kw],
        stride: [strides[0]!, strides[1]!],
        padding,
        bias: B !== undefined,
      },
      onnx,
      params,
    });
    const o = this.shapeOf(n.output);
    this.vshape = [o[1]!, o[2]!, o[3]!];
  }

  /** MaxPool without padding, dilation or ceil_mode (vnet's `maxpool`). */
  private maxpool(n: GNode, label: string): void {
    if (n.inputs[0] !== this.cur)
      throw nodeError(n, n.index, 'the network value must be the input of MaxPool');
    if (this.pendingPad) throw nodeError(n, n.index, 'a Pad is supported only directly before a Conv');
    if (this.vshape === undefined) this.decide('image', n);
    if (this.vshape!.length !== 3) throw nodeError(n, n.index, 'needs an image input');
    const kernel = attrInts(n, 'kernel_shape');
    if (!kernel || kernel.length !== 2) throw nodeError(n, n.index, 'needs a 2-D kernel_shape');
    const strides = attrInts(n, 'strides') ?? [1, 1];
    const dil = attrInts(n, 'dilations') ?? [1, 1];
    if (dil.some((d) => d !== 1))
      throw nodeError(n, n.index, `dilations [${dil.join(', ')}] are not supported by vnet's maxpool`);
    if (attrInt(n, 'ceil_mode', 0) !== 0)
      throw nodeError(n, n.index, "ceil_mode = 1 is not supported by vnet's maxpool");
    const pads = spatialPads(n, this.shapeOf(this.cur).slice(2), kernel, strides, dil);
    if (pads.some((p) => p !== 0))
      throw nodeError(
        n,
        n.index,
        `pads [${pads.join(', ')}] are not supported by vnet's maxpool (no padding)`,
      );
    this.finishNorm(undefined);
    this.push({
      name: this.nextName('maxpool', 'maxpool'),
      op: { kind: 'maxpool', kernel: [kernel[0]!, kernel[1]!], stride: [strides[0]!, strides[1]!] },
      onnx: [label],
      params: [],
    });
    const o = this.shapeOf(n.output);
    this.vshape = [o[1]!, o[2]!, o[3]!];
  }

  private pad(n: GNode, label: string): void {
    const mode = (n.attrs.get('mode') as string | undefined) ?? 'constant';
    if (mode !== 'constant')
      throw nodeError(n, n.index, `mode '${mode}' is not supported (only zero padding)`);
    const value = (n.attrs.get('value') as number | undefined) ?? this.const(n, 2)?.data[0] ?? 0;
    if (value !== 0)
      throw nodeError(n, n.index, `padding value ${value} is not supported (only zero padding)`);
    const pads = attrInts(n, 'pads') ?? (this.const(n, 1) ? Array.from(this.const(n, 1)!.data) : undefined);
    if (!pads || pads.length !== 8 || pads[0] || pads[1] || pads[4] || pads[5])
      throw nodeError(n, n.index, 'only spatial padding of an NCHW value is supported');
    if (this.pendingPad) throw nodeError(n, n.index, 'two Pads in a row are not supported');
    this.pendingPad = { pads: [pads[2]!, pads[3]!, pads[6]!, pads[7]!], label };
  }

  private reshape(n: GNode, outShape: readonly number[], label: string): void {
    if (this.pendingPad) throw nodeError(n, n.index, 'a Pad is supported only directly before a Conv');
    const vs = this.vshape;
    if (vs === undefined) {
      // at the input: only the layout changes; an image shape fixes it, a vector waits for the first layer
      this.inputOnnx.push(label);
      if (imageOf(outShape) && !isVectorShape(outShape)) {
        this.cur = n.output;
        this.decide('image', n);
      } else if (!imageOf(this.shapeOf(this.cur))) {
        /* a vector stays a vector */
      } else {
        this.decide('image', n);
        this.push({
          name: this.nextName('flatten', 'flatten'),
          op: { kind: 'flatten' },
          onnx: [label],
          params: [],
        });
        this.inputOnnx.pop();
        this.vshape = [numel(outShape)];
      }
      return;
    }
    if (vs.length === 3) {
      const img = imageOf(outShape);
      if (img && img.every((d, i) => d === vs[i])) return; // only unit dims changed
      if (isVectorShape(outShape)) {
        this.finishNorm(undefined);
        this.push({
          name: this.nextName('flatten', 'flatten'),
          op: { kind: 'flatten' },
          onnx: [label],
          params: [],
        });
        this.vshape = [numel(outShape)];
        return;
      }
      throw nodeError(
        n,
        n.index,
        `reshaping the image [${vs.join(', ')}] to [${outShape.join(', ')}] is not supported`,
      );
    }
    if (isVectorShape(outShape)) return; // vector → vector: no layer
    throw nodeError(
      n,
      n.index,
      `reshaping the vector [${vs.join(', ')}] to [${outShape.join(', ')}] is not supported by vnet's sequential IR yet`,
    );
  }

  private transpose(n: GNode, outShape: readonly number[], label: string): void {
    const cur = this.shapeOf(this.cur);
    const perm = attrInts(n, 'perm') ?? [...cur.keys()].reverse();
    const moved = perm.filter((p, i) => p !== i && cur[p] !== 1);
    if (moved.length === 0) return this.reshape(n, outShape, label); // only unit dims move
    const isNhwc =
      this.vshape === undefined && this.layers.length === 0 && cur.length === 4 && perm.join() === '0,3,1,2';
    if (!isNhwc || !imageOf(outShape))
      throw nodeError(
        n,
        n.index,
        `Transpose [${perm.join(', ')}] is supported only right after an NHWC input ([0, 3, 1, 2])`,
      );
    if (this.inputAffine) {
      const t = (d: Float64Array): Float64Array => transpose({ dims: cur, data: d, dataType: 1 }, perm).data;
      this.inputAffine = { a: t(this.inputAffine.a), b: t(this.inputAffine.b) };
    }
    this.inputOnnx.push(label);
    this.layout = 'nhwc';
    this.cur = n.output;
    this.decide('image', n);
  }
}

/** Maps a normalised graph onto vnet's layers (see the file comment). */
export const mapGraph = (g: Graph): VNetwork => new Mapper(g).run();
