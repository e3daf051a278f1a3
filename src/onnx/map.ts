/**
 * Import phase 4: the normalised ONNX graph (graph.ts) → a vnet network: input (shape,
 * normalisation), layers (IR ops with their float64 weights in PyTorch layout, each naming its
 * inputs: a graph) and classes.
 *
 * The mapping walks the ONNX nodes in topological order (nodes the output does not depend on are
 * dropped) and gives every ONNX value a vnet value (a layer, or the input):
 * - the input prefix: elementwise Sub/Add/Mul/Div by constants and BatchNormalization between the
 *   input and its first layer become the spec's per-channel `mean`/`std` when they are exactly that
 *   (a per-channel affine map with positive scale); otherwise `mul`/`add` nodes when per channel,
 *   else they fold into a first dense layer; Reshape/Flatten/Squeeze/Unsqueeze there fix the input
 *   layout, and Transpose [0, 3, 1, 2] right after an NHWC input makes it vnet's C,H,W input;
 * - Gemm (transA/transB/alpha/beta) and MatMul (one operand constant) → dense; Conv → conv2d;
 *   Relu → relu; LeakyRelu → leaky_relu; BatchNormalization → batchnorm (its own node, PyTorch's
 *   parameters; eps and momentum read to 6 significant digits, the precision of a float32
 *   attribute); AveragePool → avgpool; GlobalAveragePool → global_avgpool; Pad → pad (folded into
 *   the Conv it feeds when that is its only consumer); Concat along channels → concat; Add of two
 *   values → add;
 * - Add/Sub/Mul/Div by a constant that is the same over each channel (or feature): folded into the
 *   dense/conv layer before it when that layer's only consumer is this node (a bias, a scale),
 *   else an `add`/`sub`/`mul`/`div` node (c − x as `mul(-1)` then `add(c)`);
 * - Flatten/Reshape/Squeeze/Unsqueeze: nothing where only unit dimensions change, `flatten` where
 *   a map becomes a vector, `reshape` where the result is a map; Transpose of a map's C, H, W axes →
 *   transpose (only unit dimensions moving: nothing).
 * A value's vnet shape is [C, H, W] for a 4-D ONNX value [1, C, H, W] (or 3-D [C, H, W]) and the
 * vector [N] where at most one dimension is not 1. A network whose last layer is not a dense gets an
 * identity dense head (exact).
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
  supportedHelp,
  type GNode,
  type Graph,
} from './graph.js';
import { axisOf, broadcastShape, broadcastTo, numel, transpose } from './tensor.js';

export interface VParam {
  readonly param: 'weight' | 'bias' | 'running_mean' | 'running_var';
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

/** The ONNX operators this mapping turns into vnet nodes (for the "not yet" errors). */
const MAPPED =
  'Gemm, MatMul, Add, Sub, Mul, Div, Relu, LeakyRelu, Sigmoid, Tanh, Conv, BatchNormalization, AveragePool, GlobalAveragePool, MaxPool, Pad, Flatten, Reshape, Transpose, Concat, Squeeze, Unsqueeze (and Constant, Identity, Dropout)';

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

/** A vnet value: the layer that computes it (or `input`) and its vnet shape. */
interface VVal {
  readonly name: string;
  readonly shape: readonly number[];
}

/** A Pad not yet placed: folded into the Conv it feeds, or a `pad` node when another reads it. */
interface PendingPad {
  readonly src: string;
  /** [top, bottom, left, right] */
  readonly padding: Padding4;
  readonly label: string;
}

/** 6 significant digits: what a float32 attribute can carry back and forth exactly. */
const attrNumber = (v: number): number => Number(Math.fround(v).toPrecision(6));

/** The vnet shape of an ONNX value shape: [C, H, W] for [1, C, H, W] (or [C, H, W]), else a vector. */
function vnetShapeOf(s: readonly number[]): number[] | undefined {
  const d = s.length === 4 && s[0] === 1 ? s.slice(1) : s.length === 3 ? [...s] : undefined;
  if (d !== undefined && !isVectorShape(d)) return d;
  if (d !== undefined && d[1] === 1 && d[2] === 1) return d; // [1, C, 1, 1]: a map of 1x1
  return isVectorShape(s) ? [numel(s)] : undefined;
}

class Mapper {
  private readonly layers: VLayer[] = [];
  private readonly counts = new Map<string, number>();
  /** The vnet value of each ONNX value mapped so far. */
  private readonly vals = new Map<string, VVal>();
  private readonly pads = new Map<string, PendingPad>();
  /** The ONNX value each layer computes (where folding into it is allowed). */
  private readonly layerOut = new Map<string, string>();
  /** Which live nodes consume each value. */
  private readonly consumers = new Map<string, GNode[]>();
  private readonly live: readonly GNode[];

  /* the input prefix */
  /** The ONNX value that is the input with its pending layout and normalisation; undefined once placed. */
  private raw: string | undefined;
  private vshape: number[] | undefined;
  private layout: 'vector' | 'nchw' | 'nhwc' | undefined;
  private inputAffine: Affine | undefined;
  private readonly inputOnnx: string[] = [];
  private mean: number[] = [0];
  private std: number[] = [1];
  private inputShape: number[] | undefined;
  /** An input affine map that is no normalisation, for the dense layer that reads the input. */
  private denseFold: Affine | undefined;

  constructor(private readonly g: Graph) {
    this.raw = g.input.name;
    // the nodes the output depends on
    const need = new Set([g.output]);
    const live: GNode[] = [];
    for (let i = g.nodes.length - 1; i >= 0; i--) {
      const n = g.nodes[i]!;
      if (!need.has(n.output)) continue;
      live.unshift(n);
      for (const v of n.inputs) if (v !== '' && !g.consts.has(v)) need.add(v);
    }
    this.live = live;
    for (const n of live)
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
  private data(n: GNode): string[] {
    return n.inputs.filter((v) => v !== '' && !this.g.consts.has(v));
  }
  private uses(v: string): number {
    return this.consumers.get(v)?.length ?? 0;
  }
  /** Adds a layer reading `inputs`; its vnet value. */
  private push(
    layer: Omit<VLayer, 'inputs' | 'name'> & { readonly name?: string },
    inputs: readonly VVal[],
    shape: readonly number[],
  ): VVal {
    const name = layer.name ?? this.nextName(layer.op.kind, layer.op.kind);
    this.layers.push({ ...layer, name, inputs: inputs.map((i) => i.name) });
    return { name, shape };
  }

  /** The vnet value of an ONNX value (placing a pending Pad as a `pad` node). */
  private val(v: string, n: GNode): VVal {
    const pad = this.pads.get(v);
    if (pad) {
      this.pads.delete(v);
      const src = this.val(pad.src, n);
      const [c, h, w] = src.shape as [number, number, number];
      const p = pad.padding;
      const out = this.push(
        { op: { kind: 'pad', padding: p }, onnx: [pad.label], params: [] },
        [src],
        [c, h + p[0] + p[1], w + p[2] + p[3]],
      );
      this.vals.set(v, out);
      return out;
    }
    const x = this.vals.get(v);
    if (!x) throw nodeError(n, n.index, `internal: the value '${v}' has no vnet value`);
    return x;
  }

  run(): VNetwork {
    const g = this.g;
    for (const n of this.live) {
      if (this.raw !== undefined && n.inputs.includes(this.raw)) {
        if (this.uses(this.raw) === 1 && this.data(n).length === 1 && this.prefix(n)) continue;
        this.finishInput(n);
      }
      this.node(n);
      const s = this.vals.get(n.output);
      if (s && numel(s.shape) !== numel(this.shapeOf(n.output)))
        throw nodeError(n, n.index, 'internal: the mapped value has another size than the ONNX value');
    }
    if (this.raw !== undefined) this.finishInput(undefined);
    const end: GNode = {
      index: -1,
      name: 'output',
      opType: 'output',
      inputs: [],
      output: '',
      attrs: new Map(),
    };
    let out = this.val(g.output, this.live[this.live.length - 1] ?? end);
    if (out.shape.length === 3)
      out = this.push({ op: { kind: 'flatten' }, onnx: [], params: [] }, [out], [numel(out.shape)]);
    const K = out.shape[0]!;
    const last = this.layers[this.layers.length - 1];
    if (last?.op.kind !== 'dense' || last.name !== out.name) {
      const w = new Float64Array(K * K);
      for (let i = 0; i < K; i++) w[i * K + i] = 1;
      this.push(
        {
          name: this.nextName('dense', 'fc'),
          op: { kind: 'dense', out: K, bias: false },
          onnx: [],
          params: [{ param: 'weight', shape: [K, K], data: w }],
          note: 'identity head: vnet networks end with a dense layer',
        },
        [out],
        [K],
      );
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

  /* ---- the input prefix ---- */

  /** Fixes the input layout: 'vector' (numel values) or the image of the raw value's shape. */
  private decide(kind: 'vector' | 'image', n: GNode | undefined): void {
    if (this.vshape !== undefined) return;
    const s = this.shapeOf(this.raw!);
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

  /** Absorbs node n (the only reader of the raw input) into the input; false when it is a layer. */
  private prefix(n: GNode): boolean {
    const label = this.label(n);
    switch (n.opType) {
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div':
      case 'BatchNormalization': {
        const aff = this.affineOf(n, this.raw!);
        if (aff === undefined) return false;
        this.inputAffine ??= { a: new Float64Array(aff.a.length).fill(1), b: new Float64Array(aff.a.length) };
        Mapper.compose(this.inputAffine, aff.a, aff.b);
        break;
      }
      case 'Flatten':
      case 'Reshape':
      case 'Squeeze':
      case 'Unsqueeze': {
        const to = this.shapeOf(n.output);
        if (this.vshape === undefined) {
          if (imageOf(to) && !isVectorShape(to)) {
            this.raw = n.output;
            this.inputOnnx.push(label);
            this.decide('image', n);
            return true;
          }
          if (imageOf(this.shapeOf(this.raw!))) return false; // the image flattened: a layer
        } else {
          const img = imageOf(to);
          const vs = this.vshape;
          const same = vs.length === 3 ? img && img.every((d, i) => d === vs[i]) : isVectorShape(to);
          if (!same) return false;
        }
        break;
      }
      case 'Transpose': {
        const cur = this.shapeOf(this.raw!);
        const perm = attrInts(n, 'perm') ?? [...cur.keys()].reverse();
        const moved = perm.filter((p, i) => p !== i && cur[p] !== 1);
        if (moved.length > 0) {
          const nhwc = this.vshape === undefined && cur.length === 4 && perm.join() === '0,3,1,2';
          if (!nhwc || !imageOf(this.shapeOf(n.output))) return false;
          if (this.inputAffine) {
            const t = (d: Float64Array): Float64Array =>
              transpose({ dims: cur, data: d, dataType: 1 }, perm).data;
            this.inputAffine = { a: t(this.inputAffine.a), b: t(this.inputAffine.b) };
          }
          this.layout = 'nhwc';
          this.raw = n.output;
          this.inputOnnx.push(label);
          this.decide('image', n);
          return true;
        }
        break;
      }
      default:
        return false;
    }
    this.raw = n.output;
    this.inputOnnx.push(label);
    return true;
  }

  /** Places the input: layout, normalisation (mean/std, or mul/add nodes, or a fold into a dense). */
  private finishInput(consumer: GNode | undefined): void {
    const raw = this.raw!;
    if (this.vshape === undefined) {
      const image = ['Conv', 'AveragePool', 'GlobalAveragePool', 'MaxPool', 'Pad'];
      const kind = consumer
        ? image.includes(consumer.opType)
          ? 'image'
          : ['Gemm', 'MatMul'].includes(consumer.opType)
            ? 'vector'
            : imageOf(this.shapeOf(raw))
              ? 'image'
              : 'vector'
        : isVectorShape(this.shapeOf(this.g.output))
          ? 'vector'
          : 'image';
      this.decide(kind, consumer);
    }
    let v: VVal = { name: 'input', shape: this.vshape! };
    const aff = this.inputAffine;
    if (aff !== undefined) {
      const C = this.vshape![0]!;
      const per = aff.a.length / C;
      const a: number[] = [];
      const b: number[] = [];
      let perChannel = true;
      for (let c = 0; c < C && perChannel; c++) {
        a.push(aff.a[c * per]!);
        b.push(aff.b[c * per]!);
        for (let i = c * per; i < (c + 1) * per; i++)
          if (aff.a[i] !== a[c] || aff.b[i] !== b[c]) perChannel = false;
      }
      const same = (x: number[]): number[] => (x.every((y) => y === x[0]) ? [x[0]!] : x);
      if (perChannel && a.every((x) => x > 0)) {
        this.std = same(a.map((x) => 1 / x));
        this.mean = same(a.map((x, c) => -b[c]! / x));
      } else if (perChannel) {
        const onnx = [...this.inputOnnx];
        if (!a.every((x) => x === 1))
          v = this.push({ op: { kind: 'mul', value: same(a) }, onnx, params: [] }, [v], v.shape);
        if (!b.every((x) => x === 0))
          v = this.push({ op: { kind: 'add', value: same(b) }, onnx, params: [] }, [v], v.shape);
      } else if (consumer && ['Gemm', 'MatMul'].includes(consumer.opType)) this.denseFold = aff;
      else
        throw new ImportError(
          `the elementwise operations on the input (${this.inputOnnx.join(', ')}) are not the same over each channel, and no dense layer follows to fold them into`,
        );
    }
    this.vals.set(raw, v);
    this.raw = undefined;
  }

  /** The constant operand of an elementwise op broadcast onto the value `x`, or an error. */
  private elementwise(n: GNode, x: string): { c: Float64Array; constFirst: boolean } {
    const cur = this.shapeOf(x);
    const constFirst = n.inputs[0] !== x;
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

  /** The BatchNormalization constants; an error when they are not constants. */
  private bnConsts(n: GNode): { scale: Tensor; bias: Tensor; mean: Tensor; v: Tensor; eps: number } {
    if (attrInt(n, 'training_mode', 0))
      throw nodeError(n, n.index, 'training-mode BatchNormalization is not supported');
    const eps = (n.attrs.get('epsilon') as number | undefined) ?? 1e-5;
    const [scale, bias, mean, v] = [1, 2, 3, 4].map((i) => this.const(n, i));
    if (!scale || !bias || !mean || !v)
      throw nodeError(n, n.index, 'scale, bias, mean and variance must be constants');
    return { scale, bias, mean, v, eps };
  }

  /**
   * The per-element affine map of an elementwise node on value x (Add/Sub/Mul/Div by a constant,
   * BatchNormalization); undefined when it is not one (two computed operands, c / x).
   */
  private affineOf(n: GNode, x: string): Affine | undefined {
    const cur = this.shapeOf(x);
    const N = numel(cur);
    const ones = new Float64Array(N).fill(1);
    const zeros = new Float64Array(N);
    if (this.data(n).length !== 1) return undefined;
    if (n.opType === 'BatchNormalization') {
      const { scale, bias, mean, v, eps } = this.bnConsts(n);
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
    const { c, constFirst } = this.elementwise(n, x);
    switch (n.opType) {
      case 'Add':
        return { a: ones, b: c };
      case 'Sub':
        return constFirst ? { a: ones.map(() => -1), b: c } : { a: ones, b: c.map((v) => -v) };
      case 'Mul':
        return { a: c, b: zeros };
      default:
        if (constFirst) return undefined;
        if (c.some((v) => v === 0)) throw nodeError(n, n.index, 'division by zero');
        return { a: c.map((v) => 1 / v), b: zeros };
    }
  }

  /* ---- the graph ---- */

  private node(n: GNode): void {
    const label = this.label(n);
    const out = (v: VVal): void => void this.vals.set(n.output, v);
    switch (n.opType) {
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div':
        return out(this.arith(n, label));
      case 'BatchNormalization':
        return out(this.batchnorm(n, label));
      case 'Relu':
        return out(this.activation(n, { kind: 'relu' }, label));
      case 'LeakyRelu': {
        const alpha = n.attrs.get('alpha');
        return out(
          this.activation(n, { kind: 'leaky_relu', slope: typeof alpha === 'number' ? alpha : 0.01 }, label),
        );
      }
      case 'Gemm':
      case 'MatMul':
        return out(this.dense(n, label));
      case 'Conv':
        return out(this.conv(n, label));
      case 'AveragePool':
      case 'GlobalAveragePool':
        return out(this.avgpool(n, label));
      case 'Pad':
        return this.pad(n, label);
      case 'Concat':
        return out(this.concat(n, label));
      case 'Flatten':
      case 'Reshape':
      case 'Squeeze':
      case 'Unsqueeze':
        return out(this.reshape(n, label));
      case 'Transpose':
        return out(this.transpose(n, label));
      case 'Sigmoid':
        return out(this.activation(n, { kind: 'sigmoid' }, label));
      case 'Tanh':
        return out(this.activation(n, { kind: 'tanh' }, label));
      case 'MaxPool':
        return out(this.maxpool(n, label));
      default:
        throw nodeError(n, n.index, `vnet's importer has no mapping for ${n.opType} yet; it maps ${MAPPED}`, [
          supportedHelp(),
        ]);
    }
  }

  private input(n: GNode, k = 0): VVal {
    return this.val(this.data(n)[k]!, n);
  }

  private activation(n: GNode, op: Op, label: string): VVal {
    const x = this.input(n);
    return this.push({ op, onnx: [label], params: [] }, [x], x.shape);
  }

  private batchnorm(n: GNode, label: string): VVal {
    const x = this.input(n);
    const { scale, bias, mean, v, eps } = this.bnConsts(n);
    const C = x.shape[0]!;
    if (this.shapeOf(this.data(n)[0]!)[1] !== C || scale.data.length !== C)
      throw nodeError(
        n,
        n.index,
        `expects ${scale.data.length} channels, the value has shape [${this.shapeOf(this.data(n)[0]!).join(', ')}]`,
      );
    const momentum = n.attrs.get('momentum');
    const p = (param: VParam['param'], t: Tensor): VParam => ({
      param,
      shape: [C],
      data: Float64Array.from(t.data),
    });
    return this.push(
      {
        op: {
          kind: 'batchnorm',
          eps: attrNumber(eps),
          momentum: typeof momentum === 'number' ? attrNumber(1 - momentum) : 0.1,
          affine: true,
        },
        onnx: [label],
        params: [p('weight', scale), p('bias', bias), p('running_mean', mean), p('running_var', v)],
      },
      [x],
      x.shape,
    );
  }

  /** Add/Sub/Mul/Div: of two values (Add only), or by a constant (folded, or a constant node). */
  private arith(n: GNode, label: string): VVal {
    const data = this.data(n);
    if (data.length === 2) {
      if (n.opType !== 'Add')
        throw nodeError(
          n,
          n.index,
          `${n.opType} of two computed values is not supported (only Add; by a constant, all four)`,
        );
      const [a, b] = [this.val(data[0]!, n), this.val(data[1]!, n)];
      const [sa, sb] = [this.shapeOf(data[0]!), this.shapeOf(data[1]!)];
      if (sa.join() !== sb.join() || a.shape.join() !== b.shape.join())
        throw nodeError(
          n,
          n.index,
          `adds values of the shapes [${sa.join(', ')}] and [${sb.join(', ')}]: broadcasting between computed values is not supported`,
        );
      return this.push({ op: { kind: 'add' }, onnx: [label], params: [] }, [a, b], a.shape);
    }
    const xv = data[0]!;
    const x = this.val(xv, n);
    const aff = this.affineOf(n, xv);
    if (aff === undefined)
      throw nodeError(n, n.index, 'a constant divided by the network value is not linear; not supported');
    // fold into the dense/conv layer that computes x, when nothing else reads it
    const src = this.layers.find((l) => l.name === x.name);
    if (
      src &&
      (src.op.kind === 'dense' || src.op.kind === 'conv2d') &&
      this.layerOut.get(src.name) === xv &&
      this.uses(xv) === 1 &&
      this.foldIntoAffine(src, aff.a, aff.b, label)
    ) {
      this.layerOut.set(src.name, n.output);
      return x;
    }
    // a constant node: the constant must be the same over each channel (feature)
    const C = x.shape[0]!;
    const per = aff.a.length / C;
    const a: number[] = [];
    const b: number[] = [];
    for (let c = 0; c < C; c++) {
      a.push(aff.a[c * per]!);
      b.push(aff.b[c * per]!);
      for (let i = c * per; i < (c + 1) * per; i++)
        if (aff.a[i] !== a[c] || aff.b[i] !== b[c])
          throw nodeError(
            n,
            n.index,
            'the constant varies within a channel: vnet has constants per channel (or feature) only',
          );
    }
    const same = (v: number[]): number[] => (v.every((y) => y === v[0]) ? [v[0]!] : v);
    const { c, constFirst } = this.elementwise(n, xv);
    const cv = same(Array.from({ length: C }, (_, k) => c[k * per]!));
    const onnx = [label];
    switch (n.opType) {
      case 'Add':
        return this.push({ op: { kind: 'add', value: cv }, onnx, params: [] }, [x], x.shape);
      case 'Mul':
        return this.push({ op: { kind: 'mul', value: cv }, onnx, params: [] }, [x], x.shape);
      case 'Div':
        return this.push({ op: { kind: 'div', value: cv }, onnx, params: [] }, [x], x.shape);
      default: {
        if (!constFirst) return this.push({ op: { kind: 'sub', value: cv }, onnx, params: [] }, [x], x.shape);
        const neg = this.push({ op: { kind: 'mul', value: [-1] }, onnx, params: [] }, [x], x.shape);
        return this.push({ op: { kind: 'add', value: cv }, onnx, params: [] }, [neg], x.shape);
      }
    }
  }

  /** Folds a·x + b into the dense/conv layer `last` (false when a, b vary within its channels). */
  private foldIntoAffine(last: VLayer, a: Float64Array, b: Float64Array, label: string): boolean {
    const out = (last.op as { out: number }).out;
    const N = a.length;
    const inner = N / out;
    const ua = new Float64Array(out);
    const ub = new Float64Array(out);
    for (let o = 0; o < out; o++) {
      ua[o] = a[o * inner]!;
      ub[o] = b[o * inner]!;
      for (let i = o * inner; i < (o + 1) * inner; i++) if (a[i] !== ua[o] || b[i] !== ub[o]) return false;
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
    const k = this.layers.indexOf(last);
    this.layers[k] = { ...last, op, params, onnx: [...last.onnx, label] };
    return true;
  }

  private dense(n: GNode, label: string): VVal {
    const xv = this.data(n)[0]!;
    const x = this.val(xv, n);
    const cur = this.shapeOf(xv);
    const outShape = this.shapeOf(n.output);
    let W: Float64Array; // [out, in]
    let inN: number;
    let outN: number;
    let bias: Float64Array | undefined;
    if (n.opType === 'Gemm') {
      if (n.inputs[0] !== xv)
        throw nodeError(n, n.index, 'the network value must be the first operand (A) of Gemm');
      if (attrInt(n, 'transA', 0) === 1 && cur[0] !== 1)
        throw nodeError(n, n.index, 'transA with a batch of more than one row is not supported');
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
      const constFirst = n.inputs[0] !== xv;
      const M = this.const(n, constFirst ? 0 : 1);
      if (!M || M.dims.length !== 2) throw nodeError(n, n.index, 'one operand must be a constant matrix');
      if (cur.length > 2)
        throw nodeError(n, n.index, `batched MatMul of [${cur.join(', ')}] is not supported`);
      if (constFirst) {
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
    if (x.shape.length !== 1)
      throw nodeError(n, n.index, `needs a vector input, the value is an image [${cur.join(', ')}]`);
    const b = bias ?? new Float64Array(outN);
    if (this.denseFold && x.name === 'input') {
      // W (a ⊙ x + b) + c = (W diag a) x + (W b + c)
      const aff = this.denseFold;
      this.denseFold = undefined;
      for (let o = 0; o < outN; o++) {
        let s = 0;
        for (let i = 0; i < inN; i++) {
          s += W[o * inN + i]! * aff.b[i]!;
          W[o * inN + i] = W[o * inN + i]! * aff.a[i]!;
        }
        b[o] = b[o]! + s;
      }
      label = `${this.inputOnnx.join(', ')}, ${label}`;
    }
    const hasBias = bias !== undefined || b.some((v) => v !== 0);
    const params: VParam[] = [{ param: 'weight', shape: [outN, inN], data: W }];
    if (hasBias) params.push({ param: 'bias', shape: [outN], data: b });
    const v = this.push(
      {
        name: this.nextName('dense', 'fc'),
        op: { kind: 'dense', out: outN, bias: hasBias },
        onnx: [label],
        params,
      },
      [x],
      [outN],
    );
    this.layerOut.set(v.name, n.output);
    return v;
  }

  private conv(n: GNode, label: string): VVal {
    const xv = this.data(n)[0]!;
    if (n.inputs[0] !== xv) throw nodeError(n, n.index, 'the network value must be the first input of Conv');
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
    // a zero Pad that only this Conv reads becomes its padding
    const pending = this.pads.get(xv);
    const fold = pending !== undefined && this.uses(xv) === 1;
    if (fold) this.pads.delete(xv);
    const x = fold ? this.val(pending.src, n) : this.val(xv, n);
    if (x.shape.length !== 3) throw nodeError(n, n.index, 'needs an image input');
    const [out, cin, kh, kw] = Wt.dims as [number, number, number, number];
    const strides = attrInts(n, 'strides') ?? [1, 1];
    const p = spatialPads(n, this.shapeOf(xv).slice(2), [kh, kw], strides, dil);
    const extra = fold ? pending.padding : [0, 0, 0, 0];
    const padding: Padding4 = [p[0]! + extra[0]!, p[2]! + extra[1]!, p[1]! + extra[2]!, p[3]! + extra[3]!];
    const B = this.const(n, 2);
    if (n.inputs[2] && !B) throw nodeError(n, n.index, 'the bias must be a constant');
    const params: VParam[] = [
      { param: 'weight', shape: [out, cin, kh, kw], data: Float64Array.from(Wt.data) },
    ];
    if (B) params.push({ param: 'bias', shape: [out], data: Float64Array.from(B.data) });
    const o = this.shapeOf(n.output);
    const v = this.push(
      {
        name: this.nextName('conv2d', 'conv'),
        op: {
          kind: 'conv2d',
          out,
          kernel: [kh, kw],
          stride: [strides[0]!, strides[1]!],
          padding,
          bias: B !== undefined,
        },
        onnx: fold ? [pending.label, label] : [label],
        params,
      },
      [x],
      [o[1]!, o[2]!, o[3]!],
    );
    this.layerOut.set(v.name, n.output);
    return v;
  }

  private avgpool(n: GNode, label: string): VVal {
    const x = this.input(n);
    if (x.shape.length !== 3) throw nodeError(n, n.index, 'needs an image input');
    const o = this.shapeOf(n.output);
    const outShape = [o[1]!, o[2]!, o[3]!];
    if (n.opType === 'GlobalAveragePool') {
      const [, h, w] = x.shape as [number, number, number];
      return this.push(
        {
          op: { kind: 'avgpool', kernel: [h, w], stride: [1, 1], padding: [0, 0, 0, 0] },
          onnx: [label],
          params: [],
        },
        [x],
        outShape,
      );
    }
    const kernel = attrInts(n, 'kernel_shape')!;
    const strides = attrInts(n, 'strides') ?? [1, 1];
    const p = spatialPads(n, this.shapeOf(this.data(n)[0]!).slice(2), kernel, strides, [1, 1]);
    const padding: Padding4 = [p[0]!, p[2]!, p[1]!, p[3]!];
    if (attrInt(n, 'count_include_pad', 0) === 0 && padding.some((q) => q !== 0))
      throw nodeError(
        n,
        n.index,
        'count_include_pad = 0 with padding is not supported (vnet counts padded zeros, as PyTorch by default)',
      );
    const [, h, w] = x.shape as [number, number, number];
    const floor = (size: number, k: number, s: number, a: number, b: number): number =>
      Math.floor((size + a + b - k) / s) + 1;
    if (
      floor(h, kernel[0]!, strides[0]!, padding[0], padding[1]) !== outShape[1] ||
      floor(w, kernel[1]!, strides[1]!, padding[2], padding[3]) !== outShape[2]
    )
      throw nodeError(n, n.index, 'ceil_mode = 1 with a partial last window is not supported');
    return this.push(
      {
        op: {
          kind: 'avgpool',
          kernel: [kernel[0]!, kernel[1]!],
          stride: [strides[0]!, strides[1]!],
          padding,
        },
        onnx: [label],
        params: [],
      },
      [x],
      outShape,
    );
  }

  /** MaxPool without padding, dilation or ceil_mode (vnet's `maxpool`). */
  private maxpool(n: GNode, label: string): VVal {
    const x = this.input(n);
    if (x.shape.length !== 3) throw nodeError(n, n.index, 'needs an image input');
    const kernel = attrInts(n, 'kernel_shape');
    if (!kernel || kernel.length !== 2) throw nodeError(n, n.index, 'needs a 2-D kernel_shape');
    const strides = attrInts(n, 'strides') ?? [1, 1];
    const dil = attrInts(n, 'dilations') ?? [1, 1];
    if (dil.some((d) => d !== 1))
      throw nodeError(n, n.index, `dilations [${dil.join(', ')}] are not supported by vnet's maxpool`);
    if (attrInt(n, 'ceil_mode', 0) !== 0)
      throw nodeError(n, n.index, "ceil_mode = 1 is not supported by vnet's maxpool");
    const pads = spatialPads(n, this.shapeOf(this.data(n)[0]!).slice(2), kernel, strides, dil);
    if (pads.some((q) => q !== 0))
      throw nodeError(
        n,
        n.index,
        `pads [${pads.join(', ')}] are not supported by vnet's maxpool (no padding)`,
      );
    const o = this.shapeOf(n.output);
    return this.push(
      {
        op: { kind: 'maxpool', kernel: [kernel[0]!, kernel[1]!], stride: [strides[0]!, strides[1]!] },
        onnx: [label],
        params: [],
      },
      [x],
      [o[1]!, o[2]!, o[3]!],
    );
  }

  private pad(n: GNode, label: string): void {
    const mode = (n.attrs.get('mode') as string | undefined) ?? 'constant';
    if (mode !== 'constant')
      throw nodeError(n, n.index, `mode '${mode}' is not supported (only zero padding)`);
    const value = (n.attrs.get('value') as number | undefined) ?? this.const(n, 2)?.data[0] ?? 0;
    if (value !== 0)
      throw nodeError(n, n.index, `padding value ${value} is not supported (only zero padding)`);
    const pads = attrInts(n, 'pads') ?? (this.const(n, 1) ? Array.from(this.const(n, 1)!.data) : undefined);
    if (!pads || pads.length !== 8 || pads[0] || pads[1] || pads[4] || pads[5] || pads.some((q) => q < 0))
      throw nodeError(n, n.index, 'only non-negative spatial padding of an NCHW value is supported');
    const src = this.data(n)[0]!;
    if (this.val(src, n).shape.length !== 3) throw nodeError(n, n.index, 'needs an image input');
    this.pads.set(n.output, { src, padding: [pads[2]!, pads[6]!, pads[3]!, pads[7]!], label });
  }

  private concat(n: GNode, label: string): VVal {
    if (this.data(n).length !== n.inputs.length)
      throw nodeError(n, n.index, 'concatenating constants with computed values is not supported');
    const x0 = this.shapeOf(n.inputs[0]!);
    const axis = axisOf(attrInt(n, 'axis', 0), x0.length);
    if (axis !== 1 || x0[0] !== 1)
      throw nodeError(
        n,
        n.index,
        `Concat along axis ${axis} of [${x0.join(', ')}] is not supported (only channels / features: axis 1 of [1, C, ...])`,
      );
    const ins = n.inputs.map((v) => this.val(v, n));
    if (!ins.every((v) => v.shape.length === ins[0]!.shape.length))
      throw nodeError(n, n.index, 'concatenates a map with a vector');
    const c = ins.reduce((s, v) => s + v.shape[0]!, 0);
    return this.push({ op: { kind: 'concat' }, onnx: [label], params: [] }, ins, [
      c,
      ...ins[0]!.shape.slice(1),
    ]);
  }

  /** Flatten/Reshape/Squeeze/Unsqueeze: nothing, `flatten` or `reshape`. */
  private reshape(n: GNode, label: string): VVal {
    const x = this.input(n);
    const to = this.shapeOf(n.output);
    const t = vnetShapeOf(to);
    if (t === undefined)
      throw nodeError(n, n.index, `the shape [${to.join(', ')}] is neither a map [1, C, H, W] nor a vector`);
    if (t.join() === x.shape.join()) return x;
    if (x.shape.length === 3 && t.length === 1)
      return this.push({ op: { kind: 'flatten' }, onnx: [label], params: [] }, [x], t);
    if (t.length === 1 && x.shape.length === 1) return x;
    return this.push({ op: { kind: 'reshape', shape: t }, onnx: [label], params: [] }, [x], t);
  }

  private transpose(n: GNode, label: string): VVal {
    const xv = this.data(n)[0]!;
    const x = this.val(xv, n);
    const cur = this.shapeOf(xv);
    const perm = attrInts(n, 'perm') ?? [...cur.keys()].reverse();
    const moved = perm.filter((p, i) => p !== i && cur[p] !== 1);
    if (moved.length === 0) return this.reshape(n, label);
    if (cur.length !== 4 || perm[0] !== 0 || x.shape.length !== 3 || cur[0] !== 1)
      throw nodeError(
        n,
        n.index,
        `Transpose [${perm.join(', ')}] of [${cur.join(', ')}] is not supported (only of the C, H, W axes of a map [1, C, H, W])`,
      );
    const p = [perm[1]! - 1, perm[2]! - 1, perm[3]! - 1] as const;
    return this.push(
      { op: { kind: 'transpose', perm: p }, onnx: [label], params: [] },
      [x],
      p.map((a) => x.shape[a]!),
    );
  }
}

/** Maps a normalised graph onto vnet's layers (see the file comment). */
export const mapGraph = (g: Graph): VNetwork => new Mapper(g).run();
