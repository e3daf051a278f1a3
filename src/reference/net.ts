/**
 * The float64 reference's view of a network: the IR's layers lowered, in PyTorch layout (C,H,W
 * flattening, weights [out, in]), to a list of dense affine maps (convolutions expanded to their
 * full matrices) and activations. Flatten disappears: in C,H,W order it is the identity. Written
 * independently of the tfjs runtime (plain loops), sharing only the activation and line tables.
 */
import type { ActivationOp, Layer, ModelIR } from '../ir/ir.js';
import { numel } from '../ir/ir.js';
import { R_MIN, type ActParams } from '../runtime/lines.js';

/** What the reference needs from a checked IR. */
export type RefModel = Pick<ModelIR, 'input' | 'layers' | 'classes'>;

/** Parameters in PyTorch layout, keyed by state_dict name (`fc1.weight`, `ramp1.r`, …). */
export type RefParams = Readonly<Record<string, Float64Array>>;

/** Activation options, as RunOptions of the runtime (no r noise: the reference is deterministic). */
export interface RefActOptions {
  readonly eta?: number;
  readonly rampAsLeaky?: boolean;
}

export interface AffineStep {
  readonly kind: 'affine';
  readonly layer: string;
  /** Row-major [nOut, nIn]. */
  readonly W: Float64Array;
  readonly b: Float64Array;
  readonly nIn: number;
  readonly nOut: number;
}

export interface ActStep {
  readonly kind: 'act';
  readonly layer: string;
  readonly act: ActParams<Float64Array>;
  readonly n: number;
}

export type Step = AffineStep | ActStep;

function param(params: RefParams, layer: Layer, role: string): Float64Array | undefined {
  const spec = layer.params.find((p) => p.role === role);
  if (!spec) return undefined;
  const v = params[spec.name];
  if (!v) throw new Error(`reference: missing parameter ${spec.name}`);
  if (v.length !== numel(spec.torchShape))
    throw new Error(`reference: ${spec.name} has ${v.length} values, expected ${numel(spec.torchShape)}`);
  return v;
}

/** Full matrix [out, in] of a convolution in C,H,W order (PyTorch semantics, explicit padding). */
function convMatrix(layer: Layer, w: Float64Array): Float64Array {
  if (layer.op.kind !== 'conv2d') throw new Error('convMatrix: not a conv layer');
  const [ci, hi, wi] = layer.inShape as [number, number, number];
  const [co, ho, wo] = layer.outShape as [number, number, number];
  const [kh, kw] = layer.op.kernel;
  const [sh, sw] = layer.op.stride;
  const [pt, , pl] = layer.op.padding;
  const nIn = ci * hi * wi;
  const M = new Float64Array(co * ho * wo * nIn);
  for (let o = 0; o < co; o++)
    for (let y = 0; y < ho; y++)
      for (let x = 0; x < wo; x++) {
        const row = ((o * ho + y) * wo + x) * nIn;
        for (let c = 0; c < ci; c++)
          for (let dy = 0; dy < kh; dy++) {
            const iy = y * sh - pt + dy;
            if (iy < 0 || iy >= hi) continue;
            for (let dx = 0; dx < kw; dx++) {
              const ix = x * sw - pl + dx;
              if (ix < 0 || ix >= wi) continue;
              M[row + (c * hi + iy) * wi + ix]! += w[((o * ci + c) * kh + dy) * kw + dx]!;
            }
          }
      }
  return M;
}

function resolveAct(
  op: ActivationOp,
  r: Float64Array | undefined,
  o: RefActOptions,
): ActParams<Float64Array> {
  switch (op.kind) {
    case 'relu':
      return { kind: 'relu' };
    case 'leaky_relu':
      return { kind: 'leaky_relu', slope: o.eta ?? op.slope };
    case 'paramramp': {
      const eta = o.eta ?? op.eta;
      if (o.rampAsLeaky) return { kind: 'leaky_relu', slope: eta };
      return { kind: 'paramramp', eta, r: r!.map((v) => Math.max(v, R_MIN)) };
    }
  }
}

/** Lower a model and its parameters to affine and activation steps. */
export function compile(model: RefModel, params: RefParams, o: RefActOptions = {}): Step[] {
  const steps: Step[] = [];
  for (const layer of model.layers) {
    const op = layer.op;
    const nIn = numel(layer.inShape);
    const nOut = numel(layer.outShape);
    switch (op.kind) {
      case 'flatten':
        break;
      case 'dense':
      case 'conv2d': {
        const w = param(params, layer, op.kind === 'dense' ? 'dense.weight' : 'conv.weight')!;
        const W = op.kind === 'dense' ? w : convMatrix(layer, w);
        const bias = param(params, layer, 'bias');
        const b = new Float64Array(nOut);
        if (bias) {
          const per = nOut / bias.length; // conv: one bias per channel, H·W positions each
          for (let i = 0; i < nOut; i++) b[i] = bias[Math.floor(i / per)]!;
        }
        steps.push({ kind: 'affine', layer: layer.name, W, b, nIn, nOut });
        break;
      }
      default:
        steps.push({
          kind: 'act',
          layer: layer.name,
          act: resolveAct(op, param(params, layer, 'ramp.r'), o),
          n: nIn,
        });
    }
  }
  return steps;
}

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
