/**
 * The one converter between PyTorch layouts (files, CLI JSON, the IR) and the runtime's internal
 * layouts (NHWC activations, dense [in, out], conv [kh, kw, in, out], r [H, W, C]).
 *
 * A dense weight that follows a flatten of a [C, H, W] map also has its input rows permuted from
 * torch.flatten's C,H,W order into H,W,C order, so that flattening an NHWC map is a plain reshape.
 * Every function here is a pure array permutation (no tfjs), so it is easy to test round trips.
 */
import type { ParamSpec, Shape } from '../ir/ir.js';

/** Internal shape of a parameter, from its PyTorch description. */
export function internalShape(p: ParamSpec): Shape {
  const s = p.torchShape;
  switch (p.role) {
    case 'dense.weight':
      return [s[1]!, s[0]!];
    case 'conv.weight':
      return [s[2]!, s[3]!, s[1]!, s[0]!];
    case 'bias':
    case 'bn.weight':
    case 'bn.bias':
    case 'bn.mean':
    case 'bn.var':
      return s;
    case 'ramp.r':
      return s.length === 3 ? [s[1]!, s[2]!, s[0]!] : s;
  }
}

/** Internal shape of an activation map (no batch): [C, H, W] → [H, W, C]; vectors unchanged. */
export function internalActShape(torch: Shape): Shape {
  return torch.length === 3 ? [torch[1]!, torch[2]!, torch[0]!] : torch;
}

/** Index (in torch C,H,W flat order) of the element at internal flat position `k` (H,W,C order). */
function chwIndexOfHwc(k: number, c: number, h: number, w: number): number {
  const ci = k % c;
  const wi = Math.floor(k / c) % w;
  const hi = Math.floor(k / (c * w));
  return (ci * h + hi) * w + wi;
}

/**
 * The permutation between the layouts: `perm[k]` is the torch-layout flat index of the element
 * stored at internal flat index `k`. Both conversions are this one gather/scatter.
 */
function permutation(p: ParamSpec): Int32Array {
  const s = p.torchShape;
  const n = s.reduce((a, b) => a * b, 1);
  const perm = new Int32Array(n);
  switch (p.role) {
    case 'bias':
    case 'bn.weight':
    case 'bn.bias':
    case 'bn.mean':
    case 'bn.var':
      for (let k = 0; k < n; k++) perm[k] = k;
      break;
    case 'dense.weight': {
      // internal [in, out] row r (H,W,C order after a flatten) ← torch [out, in] column src
      const [o, i] = [s[0]!, s[1]!];
      const f = p.flattenedFrom;
      for (let r = 0; r < i; r++) {
        const src = f && f.length === 3 ? chwIndexOfHwc(r, f[0]!, f[1]!, f[2]!) : r;
        for (let c = 0; c < o; c++) perm[r * o + c] = c * i + src;
      }
      break;
    }
    case 'conv.weight': {
      // internal [kh, kw, in, out] ← torch [out, in, kh, kw]
      const [o, i, kh, kw] = [s[0]!, s[1]!, s[2]!, s[3]!];
      for (let a = 0; a < o; a++)
        for (let b = 0; b < i; b++)
          for (let y = 0; y < kh; y++)
            for (let x = 0; x < kw; x++)
              perm[((y * kw + x) * i + b) * o + a] = ((a * i + b) * kh + y) * kw + x;
      break;
    }
    case 'ramp.r': {
      const m = mapShape(p);
      for (let k = 0; k < n; k++) perm[k] = m ? chwIndexOfHwc(k, m[0]!, m[1]!, m[2]!) : k;
      break;
    }
  }
  return perm;
}

/**
 * The [C, H, W] map whose C,H,W order a ParamRamp r follows: its own shape, or (a vector r after a
 * flatten) the flattened map's shape.
 */
function mapShape(p: ParamSpec): Shape | undefined {
  if (p.torchShape.length === 3) return p.torchShape;
  return p.flattenedFrom && p.flattenedFrom.length === 3 ? p.flattenedFrom : undefined;
}

/** PyTorch-layout data (row-major over torchShape) → internal-layout data (row-major over internalShape). */
export function torchToInternal(p: ParamSpec, data: Float32Array): Float32Array {
  const perm = permutation(p);
  const out = new Float32Array(perm.length);
  for (let k = 0; k < perm.length; k++) out[k] = data[perm[k]!]!;
  return out;
}

/** Internal-layout data → PyTorch-layout data (inverse of torchToInternal). */
export function internalToTorch(p: ParamSpec, data: Float32Array): Float32Array {
  const perm = permutation(p);
  const out = new Float32Array(perm.length);
  for (let k = 0; k < perm.length; k++) out[perm[k]!] = data[k]!;
  return out;
}

/** Rows of flattened C,H,W images → rows of flattened H,W,C images (batch-major). */
export const chwToHwc = (data: Float32Array, c: number, h: number, w: number): Float32Array =>
  permuteImages(data, c, h, w, true);

/** Rows of flattened H,W,C images → rows of flattened C,H,W images (batch-major). */
export const hwcToChw = (data: Float32Array, c: number, h: number, w: number): Float32Array =>
  permuteImages(data, c, h, w, false);

function permuteImages(data: Float32Array, c: number, h: number, w: number, toHwc: boolean): Float32Array {
  const n = c * h * w;
  const out = new Float32Array(data.length);
  for (let b = 0; b < data.length / n; b++)
    for (let ci = 0; ci < c; ci++)
      for (let hi = 0; hi < h; hi++)
        for (let wi = 0; wi < w; wi++) {
          const chw = b * n + (ci * h + hi) * w + wi;
          const hwc = b * n + (hi * w + wi) * c + ci;
          if (toHwc) out[hwc] = data[chw]!;
          else out[chw] = data[hwc]!;
        }
  return out;
}
