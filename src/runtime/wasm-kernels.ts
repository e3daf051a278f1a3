/**
 * Kernels that the tfjs wasm backend (4.22) lacks or runs slowly, registered for 'wasm' only and
 * built from the backend's own kernels (called directly on TensorInfos, so nothing is taped or
 * tracked; every intermediate is released before returning):
 * - BatchMatMul and _FusedMatMul with transposeA/transposeB: the wasm kernel falls back to a
 *   naive loop when a flag is set (10–20× slower than its XNNPACK path; every matMul gradient sets
 *   one). The wrapper transposes the operand explicitly and calls the original kernel flag-free.
 * - Conv2DBackpropFilter (the conv2d filter gradient, also the filter gradient of conv2dTranspose):
 *   the backend has none. One XNNPACK conv2d with the batch as channels and the stride as
 *   dilation (~6× faster than im2col + matmul, whose Slice/Concat kernels copy in JS).
 * - Conv2DBackpropInput (the conv2d input gradient, conv2dTranspose, CROWN's backward step through
 *   a conv layer): the backend's kernel is a naive loop. Sub-pixel decomposition: one XNNPACK
 *   conv2d over all stride phases, a pixel shuffle, a crop (3–5× faster, same products).
 * - DepthwiseConv2dNativeBackpropFilter / …BackpropInput (depthwise gradients): a batched matmul
 *   per channel, and a transposed convolution with the block-diagonal full filter.
 * - UnsortedSegmentSum (the gradient of gather): row additions on the wasm heap.
 * - Identity (tf.clone, and the tape's copy of every tensor saved for the backward pass): shares
 *   the buffer instead of copying it.
 * - Cast to the same dtype (every Multiply gradient casts both operands): shares the buffer.
 * - OneHot with a float dtype: the wasm kernel writes int32 bits whatever the dtype (tf.oneHot(…,
 *   'float32') returns denormals or NaN); the wrapper computes int32 and converts.
 * Tested against the cpu backend in test/backend/wasm-kernels.test.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { installFusedKernels } from './fused.js';

type KernelArgs = Parameters<KernelFunc>[0];
type Inputs = Record<string, TensorInfo> | TensorInfo[];

const BACKEND = 'wasm';
const MARK = Symbol.for('vnet.wasmKernel');

/** Runs wasm kernels on TensorInfos and releases every intermediate it made except the result. */
class Scratch {
  private readonly made: TensorInfo[] = [];
  constructor(readonly backend: tf.KernelBackend) {}

  /** Tracks a tensor made outside `run` (released like the others). */
  own(t: TensorInfo): TensorInfo {
    this.made.push(t);
    return t;
  }

  run(kernel: string, inputs: Inputs, attrs: object = {}): TensorInfo {
    const k = tf.getKernel(kernel, BACKEND);
    if (!k) throw new Error(`wasm kernel ${kernel} is not registered`);
    const out = k.kernelFunc({
      inputs: inputs as never,
      backend: this.backend,
      attrs: attrs as NamedAttrMap,
    });
    const info = out as TensorInfo;
    this.made.push(info);
    return info;
  }

  /** Releases all intermediates except `keep` (reshapes share data: the backend counts references). */
  finish(keep?: TensorInfo): void {
    this.keepOnly(...(keep ? [keep] : []));
  }

  /** Releases the intermediates made so far except `live` (early, to bound a kernel's peak memory). */
  keepOnly(...live: TensorInfo[]): void {
    for (const t of this.made) if (!live.includes(t)) this.backend.disposeData(t.dataId);
    this.made.splice(0, this.made.length, ...this.made.filter((t) => live.includes(t)));
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  matMul(a: TensorInfo, b: TensorInfo): TensorInfo {
    return this.run('BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
  }

  /** 0/1 one-hot rows of int32 `indices` (computed in int32: the wasm OneHot kernel writes int32 only). */
  oneHot(indices: TensorInfo, depth: number, dtype: tf.DataType = 'float32'): TensorInfo {
    const oh = this.run('OneHot', { indices }, { depth, onValue: 1, offValue: 0, dtype: 'int32' });
    return this.run('Cast', { x: oh }, { dtype });
  }
}

/** Perm that swaps the last two axes. */
const swapLast2 = (rank: number): number[] =>
  [...Array(rank).keys()].map((i) => (i === rank - 2 ? rank - 1 : i === rank - 1 ? rank - 2 : i));

/** Runs `body` with a Scratch; the returned TensorInfo is kept, everything else released. */
function withScratch(backend: tf.KernelBackend, body: (s: Scratch) => TensorInfo): TensorInfo {
  const s = new Scratch(backend);
  try {
    const out = body(s);
    s.finish(out);
    return out;
  } catch (e) {
    s.finish();
    throw e;
  }
}

/**
 * When a batched product runs as 2-D products (measured on wasm, batch 100): each 2-D call packs
 * its right operand, which pays off from about 8 rows and 8 columns per product; matrix-vector
 * products stay on the backend's own batched loop, which is as fast for them.
 */
const perBatchPays = (p: number, q: number, r: number): boolean => p >= 8 && r >= 8 && p * q * r >= 16384;

/**
 * a [..., p, q] · b [..., q, r] with a batch of more than one product, each as its own 2-D call of
 * the fast path (copies in and out of the wasm heap), when the batch shapes are equal or one side
 * has a single matrix; undefined for other broadcasts (the caller falls back).
 */
function perBatchMatMul(
  orig: KernelConfig,
  args: KernelArgs,
  a: TensorInfo,
  b: TensorInfo,
): TensorInfo | undefined {
  const backend = args.backend as tf.KernelBackend & {
    makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
    typedArrayFromHeap(t: TensorInfo): Float32Array;
  };
  const [p, q] = a.shape.slice(-2) as [number, number];
  const r = b.shape[b.shape.length - 1]!;
  const batchShapeA = a.shape.slice(0, -2);
  const batchShapeB = b.shape.slice(0, -2);
  const count = (d: number[]): number => d.reduce((x, y) => x * y, 1);
  const [nA, nB] = [count(batchShapeA), count(batchShapeB)];
  const same = batchShapeA.length === batchShapeB.length && batchShapeA.every((d, i) => d === batchShapeB[i]);
  if (!same && nA !== 1 && nB !== 1) return undefined;
  const outBatch = nA >= nB ? batchShapeA : batchShapeB;
  const n = Math.max(nA, nB);
  const piece = (t: TensorInfo, i: number, rows: number, cols: number, many: boolean): TensorInfo => {
    const part = backend.makeOutput([1, rows, cols], t.dtype);
    const src = backend.typedArrayFromHeap(t); // views after the allocation: the heap may have grown
    const at = many ? i * rows * cols : 0;
    backend.typedArrayFromHeap(part).set(src.subarray(at, at + rows * cols));
    return part;
  };
  const out = backend.makeOutput([...outBatch, p, r], a.dtype);
  for (let i = 0; i < n; i++) {
    const ai = piece(a, i, p, q, nA > 1);
    const bi = piece(b, i, q, r, nB > 1);
    const oi = orig.kernelFunc({ ...args, inputs: { a: ai, b: bi } }) as TensorInfo;
    backend.typedArrayFromHeap(out).set(backend.typedArrayFromHeap(oi), i * p * r);
    for (const t of [ai, bi, oi]) backend.disposeData(t.dataId);
  }
  return out;
}

/**
 * Whether C = op(A)·op(B) [p, r] (contraction q) is cheaper as the transpose of op(B)ᵀ·op(A)ᵀ.
 * Every call packs its right operand afresh unless the backend's operator cache holds it (keyed
 * by buffer; weights change every training step), and a transpose flag costs an explicit
 * transpose; packing and transposing cost about the same per element (measured on wasm: ~2.5 ns).
 * Direct: transposes of the flagged operands plus packing op(B) (q·r). Swapped: transposes of the
 * unflagged operands, packing op(A)ᵀ (p·q) and transposing the result (p·r). A gradient
 * G·Wᵀ of a 512×512 weight at batch 100 (p = 100) is the case this wins: 2.3 ms instead of 3.4.
 */
export function swapPays(p: number, q: number, r: number, tA: boolean, tB: boolean): boolean {
  const direct = (tA ? p * q : 0) + (tB ? q * r : 0) + q * r;
  const swapped = (tA ? 0 : p * q) + (tB ? 0 : q * r) + p * q + p * r;
  return swapped < 0.75 * direct;
}

/**
 * BatchMatMul / _FusedMatMul on the fast path only: transpose flags become explicit transposes
 * (or, for a single product where it is cheaper, the product runs swapped: see `swapPays`), and a
 * BatchMatMul with a batch of big enough products runs them one 2-D product at a time.
 */
function fastMatMul(orig: KernelConfig): KernelFunc {
  return (args: KernelArgs) => {
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    const s = new Scratch(args.backend as tf.KernelBackend);
    try {
      const { a: a0, b: b0 } = args.inputs as { a: TensorInfo; b: TensorInfo };
      const count = (d: number[]): number => d.reduce((x, y) => x * y, 1);
      const rank = a0.shape.length;
      const single =
        orig.kernelName === 'BatchMatMul' &&
        rank === b0.shape.length &&
        count(a0.shape.slice(0, -2)) === 1 &&
        count(b0.shape.slice(0, -2)) === 1 &&
        a0.dtype === 'float32';
      if (single) {
        const [p, q] = transposeA ? [a0.shape[rank - 1]!, a0.shape[rank - 2]!] : a0.shape.slice(-2);
        const r = transposeB ? b0.shape[rank - 2]! : b0.shape[rank - 1]!;
        if (swapPays(p!, q!, r, transposeA, transposeB)) {
          const swap = swapLast2(rank);
          const bT = transposeB ? b0 : s.transpose(b0, swap); // op(B)ᵀ [r, q]
          const aT = transposeA ? a0 : s.transpose(a0, swap); // op(A)ᵀ [q, p]
          const cT = orig.kernelFunc({
            ...args,
            inputs: { a: bT, b: aT },
            attrs: { ...args.attrs, transposeA: false, transposeB: false },
          }) as TensorInfo;
          const t = tf.getKernel('Transpose', BACKEND)!;
          const c = t.kernelFunc({ inputs: { x: cT }, backend: args.backend, attrs: { perm: swap } });
          (args.backend as tf.KernelBackend).disposeData(cT.dataId);
          return c;
        }
      }
      const a = transposeA ? s.transpose(a0, swapLast2(a0.shape.length)) : a0;
      const b = transposeB ? s.transpose(b0, swapLast2(b0.shape.length)) : b0;
      const flagFree = {
        ...args,
        inputs: { ...args.inputs, a, b },
        attrs: { ...args.attrs, transposeA: false, transposeB: false },
      };
      const batch = Math.max(count(a.shape.slice(0, -2)), count(b.shape.slice(0, -2)));
      const [p, q] = a.shape.slice(-2) as [number, number];
      const r = b.shape[b.shape.length - 1]!;
      const perBatch =
        orig.kernelName === 'BatchMatMul' && batch > 1 && perBatchPays(p, q, r) && a.dtype === 'float32'
          ? perBatchMatMul(orig, flagFree, a, b)
          : undefined;
      return perBatch ?? orig.kernelFunc(flagFree);
    } finally {
      s.finish();
    }
  };
}

interface ConvGeometry {
  readonly pads: readonly [number, number, number, number];
  readonly outH: number;
  readonly outW: number;
  readonly strides: readonly [number, number];
  readonly dilations: readonly [number, number];
}

function geometry(
  xShape: number[],
  filterShape: number[],
  strides: unknown,
  pad: unknown,
  dil: unknown,
  round: unknown,
  depthwise: boolean,
): ConvGeometry {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides as [number, number],
    (dil ?? 1) as [number, number],
    pad as 'same',
    round as 'floor' | undefined,
    depthwise,
  );
  const p = info.padInfo;
  return {
    pads: [p.top, p.bottom, p.left, p.right],
    outH: info.outHeight,
    outW: info.outWidth,
    strides: [info.strideHeight, info.strideWidth],
    dilations: [info.dilationHeight, info.dilationWidth],
  };
}

/** Pads (PadV2, zeros) and/or crops (Slice) the spatial axes of NHWC `x` to rows [r0, r0 + nr), cols [c0, c0 + nc) (may reach outside x). */
function window2d(s: Scratch, x: TensorInfo, r0: number, nr: number, c0: number, nc: number): TensorInfo {
  const [B, H, W, C] = x.shape as [number, number, number, number];
  const pt = Math.max(0, -r0);
  const pb = Math.max(0, r0 + nr - H);
  const pl = Math.max(0, -c0);
  const pr = Math.max(0, c0 + nc - W);
  const padded =
    pt || pb || pl || pr
      ? s.run(
          'PadV2',
          { x },
          {
            paddings: [
              [0, 0],
              [pt, pb],
              [pl, pr],
              [0, 0],
            ],
            constantValue: 0,
          },
        )
      : x;
  const [Hp, Wp] = [H + pt + pb, W + pl + pr];
  const [br, bc] = [r0 + pt, c0 + pl];
  if (br === 0 && bc === 0 && nr === Hp && nc === Wp) return padded;
  // A rank-3 view: the wasm Slice kernel copies one contiguous run at a time, so keep runs long.
  const view = s.reshape(padded, [B, Hp, Wp * C]);
  const cut = s.run('Slice', { x: view }, { begin: [0, br, bc * C], size: [B, nr, nc * C] });
  return s.reshape(cut, [B, nr, nc, C]);
}

/**
 * dW[kh, kw, C, O] of y = conv2d(x, W) as one stride-1 convolution (XNNPACK): with the batch as
 * channels, dW[ky, kx, c, o] = Σ_{oh, ow, n} x̃[c, ky + oh·sh, kx + ow·sw, n]·dy[oh, ow, n, o], i.e.
 * conv2d(x̃ = xᵀ [C, H', W', B], dyᵀ [outH, outW, B, O]) with dilation = the stride, where x̃ is the
 * padded input cut to the (outH − 1)·sh + kh rows (likewise columns) that the taps reach.
 */
const conv2dBackpropFilter: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as {
    strides: unknown;
    pad: unknown;
    dataFormat: string;
    dimRoundingMode: unknown;
    filterShape: number[];
  };
  if (a.dataFormat === 'NCHW') throw new Error('Conv2DBackpropFilter on wasm supports NHWC only');
  const [kh, kw] = a.filterShape as [number, number, number, number];
  const g = geometry(x.shape, a.filterShape, a.strides, a.pad, 1, a.dimRoundingMode, false);
  const [sh, sw] = g.strides;
  return withScratch(backend as tf.KernelBackend, (s) => {
    const rows = (g.outH - 1) * sh + kh;
    const cols = (g.outW - 1) * sw + kw;
    const [, H, W] = x.shape as [number, number, number, number];
    const [pt, pl] = [g.pads[0], g.pads[2]];
    const [pb, pr] = [rows - H - pt, cols - W - pl];
    // the zero rim as the convolution's own padding where the taps reach every input row and
    // column (no padded copy); else pad and crop first
    const inside = pb >= 0 && pr >= 0;
    const xt = inside
      ? s.transpose(x, [3, 1, 2, 0])
      : s.transpose(window2d(s, x, -pt, rows, -pl, cols), [3, 1, 2, 0]);
    const dyt = s.transpose(dy, [1, 2, 0, 3]);
    const pad = inside
      ? [
          [0, 0],
          [pt, pb],
          [pl, pr],
          [0, 0],
        ]
      : 'valid';
    const w = s.run(
      'Conv2D',
      { x: xt, filter: dyt },
      { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [sh, sw], dimRoundingMode: undefined },
    ); // [C, kh, kw, O]
    return s.transpose(w, [1, 2, 0, 3]);
  });
};

/** The sub-pixel filter G [Jh, Jw, O, sh·sw·C] of conv2dBackpropInput from W [kh, kw, C, O]. */
function subPixelFilter(
  s: Scratch,
  filter: TensorInfo,
  Jh: number,
  Jw: number,
  sh: number,
  sw: number,
): TensorInfo {
  const [kh, kw, C, O] = filter.shape as [number, number, number, number];
  const b = s.backend as HeapBackend;
  const G = s.own(b.makeOutput([Jh, Jw, O, sh * sw * C], filter.dtype));
  const w = b.typedArrayFromHeap(filter) as Float32Array;
  const g = b.typedArrayFromHeap(G) as Float32Array; // (after the allocation: the heap may have grown)
  const P = sh * sw * C;
  for (let jh = 0; jh < Jh; jh++)
    for (let jw = 0; jw < Jw; jw++)
      for (let o = 0; o < O; o++)
        for (let rh = 0; rh < sh; rh++)
          for (let rw = 0; rw < sw; rw++) {
            const ky = (Jh - 1 - jh) * sh + rh;
            const kx = (Jw - 1 - jw) * sw + rw;
            const at = ((jh * Jw + jw) * O + o) * P + (rh * sw + rw) * C;
            for (let c = 0; c < C; c++)
              g[at + c] = ky < kh && kx < kw ? w[((ky * kw + kx) * C + c) * O + o]! : 0;
          }
  return G;
}

/**
 * dx of y = conv2d(x, W) (also conv2dTranspose's forward) by sub-pixel decomposition: dx row i
 * with i + pad = q·s + r receives Σ_j dy[q − j]·W[j·s + r]. Padding W to J·s taps (J = ⌈k/s⌉)
 * makes every phase r a J-tap stride-1 correlation of dy with the flipped sub-kernel, so all s²
 * phases are ONE XNNPACK conv2d with the phases as output channels [J, J, O, sh·sw·C], followed
 * by a pixel shuffle (a transpose) and a crop. Exact: every product and sum of the direct
 * formula, no zero-stuffed input.
 */
const conv2dBackpropInput: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const a = attrs as {
    strides: unknown;
    pad: unknown;
    dataFormat: string;
    dimRoundingMode: unknown;
    inputShape: number[];
  };
  if (a.dataFormat === 'NCHW') throw new Error('Conv2DBackpropInput on wasm supports NHWC only');
  const [B, H, W, C] = a.inputShape as [number, number, number, number];
  const [kh, kw] = filter.shape as [number, number, number, number];
  const g = geometry(a.inputShape, filter.shape, a.strides, a.pad, 1, a.dimRoundingMode, false);
  const [sh, sw] = g.strides;
  const [Jh, Jw] = [Math.ceil(kh / sh), Math.ceil(kw / sw)];
  // Output rows i ∈ [0, H) are q·sh + r − top with q ∈ [q0, q1]; they read dy rows q0 − Jh + 1 … q1.
  const [q0, q1] = [Math.floor(g.pads[0] / sh), Math.floor((g.pads[0] + H - 1) / sh)];
  const [p0, p1] = [Math.floor(g.pads[2] / sw), Math.floor((g.pads[2] + W - 1) / sw)];
  const [Qh, Qw] = [q1 - q0 + 1, p1 - p0 + 1];
  return withScratch(backend as tf.KernelBackend, (s) => {
    // G[j'h, j'w, o, (rh, rw, c)] = W[(Jh − 1 − j'h)·sh + rh, (Jw − 1 − j'w)·sw + rw, c, o] (0 past k),
    // one pass on the heap (the filter is small; as pad, reverse and a 6-D transpose it took ~1 ms)
    const G = subPixelFilter(s, filter, Jh, Jw, sh, sw);
    const dyw = window2d(s, dy, q0 - Jh + 1, Qh + Jh - 1, p0 - Jw + 1, Qw + Jw - 1);
    const z = s.run(
      'Conv2D',
      { x: dyw, filter: G },
      { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined },
    ); // [B, Qh, Qw, sh·sw·C]
    s.keepOnly(z);
    // Pixel shuffle [B·Qh, Qw, sh, sw·C] → [B·Qh, sh, Qw, sw·C] = [B, Qh·sh, Qw·sw, C].
    const full =
      sh > 1
        ? s.reshape(s.transpose(s.reshape(z, [B * Qh, Qw, sh, sw * C]), [0, 2, 1, 3]), [
            B,
            Qh * sh,
            Qw * sw,
            C,
          ])
        : s.reshape(z, [B, Qh, Qw * sw, C]);
    s.keepOnly(full);
    return window2d(s, full, g.pads[0] - q0 * sh, H, g.pads[2] - p0 * sw, W);
  });
};

/**
 * im2col: [B·outH, outW, 1, kh·kw·C] (row-major = [B, outH, outW, kh·kw·C]) with column order
 * (ky, kx, c), matching a [kh, kw, C, ·] filter. Input row ky·dh + sh·oh is element (ky·dh div sh
 * + oh, ky·dh mod sh) of the padded rows viewed as [Hq, sh]: so every tap is a plain slice (the
 * wasm StridedSlice kernel is ~15× slower than Slice), rows first (kh slices), then columns.
 */
function im2col(s: Scratch, x: TensorInfo, kh: number, kw: number, g: ConvGeometry): TensorInfo {
  const [B, H, W, C] = x.shape as [number, number, number, number];
  const [top, bottom, left, right] = g.pads;
  const [sh, sw] = g.strides;
  const [dh, dw] = g.dilations;
  const Hq = Math.max(Math.ceil((H + top + bottom) / sh), Math.floor(((kh - 1) * dh) / sh) + g.outH);
  const Wq = Math.max(Math.ceil((W + left + right) / sw), Math.floor(((kw - 1) * dw) / sw) + g.outW);
  const padB = Hq * sh - H - top;
  const padR = Wq * sw - W - left;
  const xp =
    top || padB || left || padR
      ? s.run(
          'PadV2',
          { x },
          {
            paddings: [
              [0, 0],
              [top, padB],
              [left, padR],
              [0, 0],
            ],
            constantValue: 0,
          },
        )
      : x;
  const rowView = s.reshape(xp, [B, Hq, sh, Wq * sw * C]);
  const taps: TensorInfo[] = [];
  for (let ky = 0; ky < kh; ky++) {
    const o = ky * dh;
    const rows = s.run(
      'Slice',
      { x: rowView },
      { begin: [0, Math.floor(o / sh), o % sh, 0], size: [B, g.outH, 1, Wq * sw * C] },
    );
    const colView = s.reshape(rows, [B * g.outH, Wq, sw, C]);
    for (let kx = 0; kx < kw; kx++) {
      const p = kx * dw;
      taps.push(
        s.run(
          'Slice',
          { x: colView },
          { begin: [0, Math.floor(p / sw), p % sw, 0], size: [B * g.outH, g.outW, 1, C] },
        ),
      );
    }
  }
  return taps.length === 1 ? taps[0]! : s.run('Concat', taps, { axis: 3 });
}

/** Depthwise filter gradient: per channel c, dW[t, c, m] = Σ_n col[n, t, c] · dy[n, c·M + m]. */
const depthwiseBackpropFilter: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as {
    strides: unknown;
    pad: unknown;
    dilations: unknown;
    dimRoundingMode: unknown;
    filterShape: number[];
  };
  const [kh, kw, C, M] = a.filterShape as [number, number, number, number];
  const g = geometry(x.shape, a.filterShape, a.strides, a.pad, a.dilations, a.dimRoundingMode, true);
  return withScratch(backend as tf.KernelBackend, (s) => {
    const n = x.shape[0]! * g.outH * g.outW;
    const T = kh * kw;
    const col = s.transpose(s.reshape(im2col(s, x, kh, kw, g), [n, T, C]), [2, 1, 0]); // [C, T, n]
    const d = s.transpose(s.reshape(dy, [n, C, M]), [1, 0, 2]); // [C, n, M]
    const w = s.transpose(s.matMul(col, d), [1, 0, 2]); // [T, C, M]
    return s.reshape(w, [kh, kw, C, M]);
  });
};

/** Depthwise input gradient: transposed convolution with the block-diagonal [kh, kw, C, C·M] filter. */
const depthwiseBackpropInput: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const a = attrs as {
    strides: unknown;
    pad: unknown;
    dilations: unknown;
    dimRoundingMode: unknown;
    inputShape: number[];
  };
  const dil =
    typeof a.dilations === 'number' ? [a.dilations, a.dilations] : ((a.dilations ?? [1, 1]) as number[]);
  if (dil.some((d) => d !== 1))
    throw new Error('DepthwiseConv2dNativeBackpropInput on wasm: dilations must be 1');
  const [kh, kw, C, M] = filter.shape as [number, number, number, number];
  return withScratch(backend as tf.KernelBackend, (s) => {
    const ids = s.run('Range', {}, { start: 0, stop: C, step: 1, dtype: 'int32' });
    const eye = s.reshape(s.oneHot(ids, C), [C, C, 1]);
    const full = s.run('Multiply', { a: s.reshape(filter, [kh, kw, C, 1, M]), b: eye }); // [kh, kw, C, C, M]
    return s.run(
      'Conv2DBackpropInput',
      { dy, filter: s.reshape(full, [kh, kw, C, C * M]) },
      {
        strides: a.strides,
        pad: a.pad,
        dataFormat: 'NHWC',
        dimRoundingMode: a.dimRoundingMode,
        inputShape: a.inputShape,
      },
    );
  });
};

/** The wasm backend's own methods that the heap-copy kernels below use. */
type HeapBackend = tf.KernelBackend & {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
};

/**
 * out[s, ...] = Σ_{i: ids[i] = s} x[i, ...] (the gradient of gather) as row additions on the wasm
 * heap, in index order; ids outside [0, numSegments) are dropped (as in TF).
 */
const unsortedSegmentSum: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const S = (attrs as { numSegments: number }).numSegments;
  if (x.dtype !== 'float32' && x.dtype !== 'int32')
    throw new Error(`UnsortedSegmentSum on wasm supports float32 and int32 only, got ${x.dtype}`);
  const b = backend as HeapBackend;
  const rest = x.shape.slice(segmentIds.shape.length);
  const r = rest.reduce((p, q) => p * q, 1);
  const ids = Int32Array.from(b.typedArrayFromHeap(segmentIds)); // a copy: makeOutput may grow the heap
  const out = b.makeOutput([S, ...rest], x.dtype);
  const xv = b.typedArrayFromHeap(x);
  const ov = b.typedArrayFromHeap(out);
  ov.fill(0);
  ids.forEach((id, i) => {
    if (!(id >= 0 && id < S)) return;
    for (let k = 0, at = i * r, to = id * r; k < r; k++) ov[to + k]! += xv[at + k]!;
  });
  return out;
};

/** Copies `n` values from src[at…] to dst[to…] (TypedArray.set for long runs, a loop for short ones). */
function copyRun(
  src: ArrayLike<number> & { subarray(a: number, b: number): ArrayLike<number> },
  at: number,
  dst: Float32Array | Int32Array | Uint8Array,
  to: number,
  n: number,
): void {
  if (n >= 16) dst.set(src.subarray(at, at + n), to);
  else for (let k = 0; k < n; k++) dst[to + k] = src[at + k]!;
}

/**
 * x[begin : begin + size] by contiguous runs read in place on the wasm heap (the backend's Slice
 * first copies all of x out of the heap, whatever the slice; trailing whole axes are merged into
 * one run).
 */
function heapSlice(backend: HeapBackend, x: TensorInfo, begin: number[], size: number[]): TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  if (size.some((d) => d === 0)) return out;
  const xv = backend.typedArrayFromHeap(x);
  const ov = backend.typedArrayFromHeap(out);
  const strides = [...tf.util.computeStrides(x.shape), 1];
  let inner = x.shape.length - 1;
  while (inner >= 0 && begin[inner] === 0 && size[inner] === x.shape[inner]) inner--;
  if (inner < 0) {
    ov.set(xv);
    return out;
  }
  const run = size[inner]! * strides[inner]!;
  const first = begin[inner]! * strides[inner]!;
  const counter = new Array<number>(inner).fill(0);
  const runs = size.slice(0, inner).reduce((a, b) => a * b, 1);
  for (let o = 0; o < runs; o++) {
    let at = first;
    for (let d = 0; d < inner; d++) at += (begin[d]! + counter[d]!) * strides[d]!;
    copyRun(xv, at, ov, o * run, run);
    for (let d = inner - 1; d >= 0 && ++counter[d]! === size[d]; d--) counter[d] = 0;
  }
  return out;
}

/** Slice on the wasm heap in place (see heapSlice); strings go to the original kernel. */
function fastSlice(orig: KernelConfig): KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: TensorInfo };
    if (x.dtype === 'string') return orig.kernelFunc(args);
    const { begin, size } = args.attrs as { begin: number | number[]; size: number | number[] };
    const [b, sz] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size) as [number[], number[]];
    return heapSlice(args.backend as HeapBackend, x, b, sz);
  };
}

/** SplitV as heap slices (the backend's SplitV copies all of x out of the heap once per part). */
function fastSplitV(orig: KernelConfig): KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: TensorInfo };
    if (x.dtype === 'string') return orig.kernelFunc(args);
    const { numOrSizeSplits, axis } = args.attrs as { numOrSizeSplits: number | number[]; axis: number };
    const ax = tf.util.parseAxisParam(axis, x.shape)[0]!;
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, ax);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((n) => {
      const size = [...x.shape];
      size[ax] = n;
      const part = heapSlice(args.backend as HeapBackend, x, [...begin], size);
      begin[ax]! += n;
      return part;
    });
  };
}

/** Unpack (tf.unstack) as heap slices (the backend's copies all of x out of the heap once per part). */
function fastUnpack(orig: KernelConfig): KernelFunc {
  return (args: KernelArgs) => {
    const { value } = args.inputs as { value: TensorInfo };
    if (value.dtype === 'string') return orig.kernelFunc(args);
    const rank = value.shape.length;
    const ax = tf.util.parseAxisParam((args.attrs as { axis: number }).axis, value.shape)[0]!;
    const outShape = value.shape.filter((_, i) => i !== ax);
    const size = [...value.shape];
    size[ax] = 1;
    return Array.from({ length: value.shape[ax]! }, (_, i) => {
      const begin = new Array<number>(rank).fill(0);
      begin[ax] = i;
      return { ...heapSlice(args.backend as HeapBackend, value, begin, size), shape: outShape };
    });
  };
}

/**
 * GatherV2 as plain copies on the wasm heap (contiguous slices with TypedArray.set): the backend's
 * kernel spends tens of ns per element. Indices are checked like the original's.
 */
function heapGather(orig: KernelConfig): KernelFunc {
  return (args: KernelArgs) => {
    const { x, indices } = args.inputs as { x: TensorInfo; indices: TensorInfo };
    if (x.dtype === 'string') return orig.kernelFunc(args);
    const backend = args.backend as HeapBackend;
    const { axis, batchDims } = args.attrs as { axis: number; batchDims: number };
    const ax = tf.util.parseAxisParam(axis, x.shape)[0]!;
    const info = tf.backend_util.segment_util.collectGatherOpShapeInfo(
      x as tf.Tensor,
      indices as tf.Tensor,
      ax,
      batchDims,
    );
    const { batchSize, outerSize, dimSize, sliceSize } = info;
    const idx = backend.typedArrayFromHeap(indices).slice(); // a copy: makeOutput may grow the heap
    for (const i of idx)
      if (!(i >= 0 && i <= dimSize - 1))
        throw new Error(`GatherV2: the index value ${i} is not in [0, ${dimSize - 1}]`);
    const out = backend.makeOutput(info.outputShape, x.dtype);
    const xv = backend.typedArrayFromHeap(x);
    const ov = backend.typedArrayFromHeap(out);
    const per = idx.length / batchSize;
    let dst = 0;
    for (let b = 0; b < batchSize; b++)
      for (let o = 0; o < outerSize; o++) {
        const base = (b * outerSize + o) * dimSize;
        for (let j = 0; j < per; j++) {
          const src = (base + idx[b * per + j]!) * sliceSize;
          copyRun(xv, src, ov, dst, sliceSize);
          dst += sliceSize;
        }
      }
    return out;
  };
}

/** OneHot for any dtype: 0/1 in int32 (the original kernel), cast, then scaled to the on/off values. */
function anyDtypeOneHot(orig: KernelConfig): KernelFunc {
  return (args: KernelArgs) => {
    const a = args.attrs as { dtype: tf.DataType; depth: number; onValue: number; offValue: number };
    if (a.dtype === 'int32') return orig.kernelFunc(args);
    const { indices } = args.inputs as { indices: TensorInfo };
    return withScratch(args.backend as tf.KernelBackend, (s) => {
      const oh = s.oneHot(indices, a.depth, a.dtype);
      if (a.onValue === 1 && a.offValue === 0) return oh;
      const scalar = (value: number) => s.run('Fill', {}, { shape: [], value, dtype: a.dtype });
      return s.run('Add', {
        a: s.run('Multiply', { a: oh, b: scalar(a.onValue - a.offValue) }),
        b: scalar(a.offValue),
      });
    });
  };
}

/**
 * Identity without a copy (the backend's kernel copies): the output shares the input's buffer and
 * raises its reference count, as Reshape does. Tensors are immutable and every kernel writes to a
 * fresh output, so sharing is safe. The autodiff tape clones every tensor it saves for the
 * backward pass through this kernel (~120 copies per MLP training step).
 */
const sharedIdentity: KernelFunc = ({ inputs, backend }) => {
  const x = (inputs as { x: TensorInfo }).x;
  if (x.dtype === 'string') throw new Error('Identity: string tensors are not supported');
  (backend as unknown as { incRef(id: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};

/** Cast to the input's own dtype without a copy (tfjs casts both operands in every Multiply gradient). */
function sameDtypeCast(orig: KernelConfig): KernelFunc {
  return (args: KernelArgs) => {
    const x = (args.inputs as { x: TensorInfo }).x;
    if ((args.attrs as { dtype: string }).dtype !== x.dtype || x.dtype === 'string')
      return orig.kernelFunc(args);
    (args.backend as unknown as { incRef(id: object): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

/** Registers (or replaces) one wasm kernel, keeping the original's setup/dispose hooks. */
function install(kernelName: string, kernelFunc: KernelFunc): void {
  const prev = tf.getKernel(kernelName, BACKEND) as (KernelConfig & { [MARK]?: true }) | undefined;
  if (prev?.[MARK]) return;
  if (prev) tf.unregisterKernel(kernelName, BACKEND);
  tf.registerKernel({ ...prev, kernelName, backendName: BACKEND, kernelFunc, [MARK]: true } as KernelConfig);
}

/**
 * Installs the kernels above for the wasm backend (idempotent). Call after importing
 * `@tensorflow/tfjs-backend-wasm`, before or after `setBackend('wasm')`.
 */
export function installWasmKernels(): void {
  const wrappers: [string, (orig: KernelConfig) => KernelFunc][] = [
    ['BatchMatMul', fastMatMul],
    ['_FusedMatMul', fastMatMul],
    ['OneHot', anyDtypeOneHot],
    ['GatherV2', heapGather],
    ['Slice', fastSlice],
    ['SplitV', fastSplitV],
    ['Unpack', fastUnpack],
    ['Cast', sameDtypeCast],
  ];
  for (const [name, wrap] of wrappers) {
    const orig = tf.getKernel(name, BACKEND);
    if (!orig)
      throw new Error(`installWasmKernels: import @tensorflow/tfjs-backend-wasm first (${name} missing)`);
    if (!(orig as KernelConfig & { [MARK]?: true })[MARK]) install(name, wrap(orig));
  }
  install('Conv2DBackpropFilter', conv2dBackpropFilter);
  install('Conv2DBackpropInput', conv2dBackpropInput);
  install('DepthwiseConv2dNativeBackpropFilter', depthwiseBackpropFilter);
  install('DepthwiseConv2dNativeBackpropInput', depthwiseBackpropInput);
  install('UnsortedSegmentSum', unsortedSegmentSum);
  install('Identity', sharedIdentity);
  installFusedKernels();
}
