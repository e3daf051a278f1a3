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

/** PyTorch-layout data (row-major over torchShape) → internal-layout data (row-major over internalShape). */
export function torchToInternal(p: ParamSpec, data: Float32Array): Float32Array {
  const s = p.torchShape;
  const out = new Float32Array(data.length);
  switch (p.role) {
    case 'bias':
      out.set(data);
      return out;
    case 'dense.weight': {
      const [o, i] = [s[0]!, s[1]!];
      const f = p.flattenedFrom;
      for (let r = 0; r < i; r++) {
        // internal row r (H,W,C order) takes torch column src
        const src = f && f.length === 3 ? chwIndexOfHwc(r, f[0]!, f[1]!, f[2]!) : r;
        for (let c = 0; c < o; c++) out[r * o + c] = data[c * i + src]!;
      }
      return out;
    }
    case 'conv.weight': {
      const [o, i, kh, kw] = [s[0]!, s[1]!, s[2]!, s[3]!];
      for (let a = 0; a < o; a++)
        for (let b = 0; b < i; b++)
          for (let y = 0; y < kh; y++)
            for (let x = 0; x < kw; x++)
              out[((y * kw + x) * i + b) * o + a] = data[((a * i + b) * kh + y) * kw + x]!;
      return out;
    }
    case 'ramp.r': {
      const m = mapShape(p);
      return m ? chwToHwc(data, m[0]!, m[1]!, m[2]!) : (out.set(data), out);
    }
  }
}

/**
 * The [C, H, W] map whose C,H,W order a ParamRamp r follows: its own shape, or (a vector r after a
 * flatten) the flattened map's shape.
 */
function mapShape(p: ParamSpec): Shape | undefined {
  if (p.torchShape.length === 3) return p.torchShape;
  return p.flattenedFrom && p.flattenedFrom.length === 3 ? p.flattenedFrom : undefined;
}

/** Internal-layout data → PyTorch-layout data (inverse of torchToInternal). */
export function internalToTorch(p: ParamSpec, data: Float32Array): Float32Array {
  const s = p.torchShape;
  const out = new Float32Array(data.length);
  switch (p.role) {
    case 'bias':
      out.set(data);
      return out;
    case 'dense.weight': {
      const [o, i] = [s[0]!, s[1]!];
      const f = p.flattenedFrom;
      for (let r = 0; r < i; r++) {
        const dst = f && f.length === 3 ? chwIndexOfHwc(r, f[0]!, f[1]!, f[2]!) : r;
        for (let c = 0; c < o; c++) out[c * i + dst] = data[r * o + c]!;
      }
      return out;
    }
    case 'conv.weight': {
      const [o, i, kh, kw] = [s[0]!, s[1]!, s[2]!, s[3]!];
      for (let a = 0; a < o; a++)
        for (let b = 0; b < i; b++)
          for (let y = 0; y < kh; y++)
            for (let x = 0; x < kw; x++)
              out[((a * i + b) * kh + y) * kw + x] = data[((y * kw + x) * i + b) * o + a]!;
      return out;
    }
    case 'ramp.r': {
      const m = mapShape(p);
      return m ? hwcToChw(data, m[0]!, m[1]!, m[2]!) : (out.set(data), out);
    }
  }
}

/** Rows of flattened C,H,W images → rows of flattened H,W,C images (batch-major). */
export function chwToHwc(data: Float32Array, c: number, h: number, w: number): Float32Array {
  const n = c * h * w;
  const out = new Float32Array(data.length);
  for (let b = 0; b < data.length / n; b++)
    for (let ci = 0; ci < c; ci++)
      for (let hi = 0; hi < h; hi++)
        for (let wi = 0; wi < w; wi++)
          out[b * n + (hi * w + wi) * c + ci] = data[b * n + (ci * h + hi) * w + wi]!;
  return out;
}

/** Rows of flattened H,W,C images → rows of flattened C,H,W images (batch-major). */
export function hwcToChw(data: Float32Array, c: number, h: number, w: number): Float32Array {
  const n = c * h * w;
  const out = new Float32Array(data.length);
  for (let b = 0; b < data.length / n; b++)
    for (let ci = 0; ci < c; ci++)
      for (let hi = 0; hi < h; hi++)
        for (let wi = 0; wi < w; wi++)
          out[b * n + (ci * h + hi) * w + wi] = data[b * n + (hi * w + wi) * c + ci]!;
  return out;
}
