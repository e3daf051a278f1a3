/**
 * The float64 reference's view of a network: the IR's DAG lowered, in PyTorch layout (C,H,W
 * flattening, weights [out, in]), to one step per node: the identity (flatten), an affine map of
 * the node's inputs (convolutions, pooling, padding, BatchNorm and add expanded to full matrices),
 * an elementwise activation, or a max over windows (max pooling). Each op's lowering is its `ref` rule in src/ops/<kind>.ts; this
 * file only wires values: value 0 is the (normalised) network input, value k + 1 the output of
 * node k. Written independently of the tfjs runtime (plain loops), sharing only the activation
 * and line tables.
 */
import type { ModelIR, ParamRole } from '../ir/ir.js';
import { numel } from '../ir/ir.js';
import type { ActParams } from '../runtime/lines.js';
import { opDef } from '../ops/index.js';
import type { RefActOptions } from '../ops/op.js';

export type { RefActOptions } from '../ops/op.js';

/** What the reference needs from a checked IR. */
export type RefModel = Pick<ModelIR, 'input' | 'layers' | 'classes'>;

/** Parameters in PyTorch layout, keyed by state_dict name (`fc1.weight`, `ramp1.r`, …). */
export type RefParams = Readonly<Record<string, Float64Array>>;

interface StepBase {
  readonly layer: string;
  /** Value index of each input (0 = network input, k + 1 = node k). */
  readonly srcs: readonly number[];
  /** Output size (numel of the node's output shape). */
  readonly n: number;
}

export interface AliasStep extends StepBase {
  readonly kind: 'alias';
}

export interface AffineStep extends StepBase {
  readonly kind: 'affine';
  /** One row-major [n, nIn_k] matrix per input. */
  readonly W: readonly Float64Array[];
  readonly nIn: readonly number[];
  readonly b: Float64Array;
}

export interface ActStep extends StepBase {
  readonly kind: 'act';
  readonly act: ActParams<Float64Array>;
}

export interface MaxPoolStep extends StepBase {
  readonly kind: 'maxpool';
  /** Input index of cell k of output o at o·K + k. */
  readonly cells: Int32Array;
  readonly K: number;
  /** Input size. */
  readonly nIn: number;
}

export type Step = AliasStep | AffineStep | ActStep | MaxPoolStep;

/** Lower a model and its parameters to one step per node, in topological order. */
export function compile(model: RefModel, params: RefParams, o: RefActOptions = {}): Step[] {
  const index = new Map<string, number>([['input', 0]]);
  return model.layers.map((layer, k) => {
    const srcs = layer.inputs.map((name) => {
      const v = index.get(name);
      if (v === undefined) throw new Error(`reference: ${layer.name} reads '${name}' before it is computed`);
      return v;
    });
    index.set(layer.name, k + 1);
    const param = (role: ParamRole): Float64Array | undefined => {
      const spec = layer.params.find((p) => p.role === role);
      if (!spec) return undefined;
      const v = params[spec.name];
      if (!v) throw new Error(`reference: missing parameter ${spec.name}`);
      if (v.length !== numel(spec.torchShape))
        throw new Error(`reference: ${spec.name} has ${v.length} values, expected ${numel(spec.torchShape)}`);
      return v;
    };
    const n = numel(layer.outShape);
    const r = opDef(layer.op.kind).ref(layer, param, o);
    const base = { layer: layer.name, srcs, n };
    if (r.kind === 'alias') return { kind: 'alias', ...base };
    if (r.kind === 'act') return { kind: 'act', ...base, act: r.act };
    if (r.kind === 'maxpool')
      return { kind: 'maxpool', ...base, cells: r.cells, K: r.K, nIn: numel(layer.inShape) };
    return { kind: 'affine', ...base, W: r.W, b: r.b, nIn: layer.inShapes.map(numel) };
  });
}

/** Size of every value: [input, node 0, node 1, …]. */
export const valueSizes = (model: RefModel, steps: readonly Step[]): number[] => [
  numel(model.input.shape),
  ...steps.map((s) => s.n),
];

/** (x − mean)/std per channel of one flattened C,H,W (or [N]) input, in place. */
export function normalizeInPlace(model: RefModel, v: Float64Array): Float64Array {
  const { shape, mean, std } = model.input;
  const plane = shape.length === 3 ? shape[1]! * shape[2]! : 1;
  for (let i = 0; i < v.length; i++) {
    const c = mean.length === 1 ? 0 : Math.floor(i / plane);
    v[i] = (v[i]! - mean[c]!) / std[c]!;
  }
  return v;
}
