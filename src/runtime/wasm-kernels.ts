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
 * - UnsortedSegmentSum (the gradient of gather): one-hot matrix times data.
 * - OneHot with a float dtype: the wasm kernel writes int32 bits whatever the dtype (tf.oneHot(…,
 *   'float32') returns denormals or NaN); the wrapper computes int32 and converts.
 * Tested against the cpu backend in test/backend/wasm-kernels.test.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';

type KernelArgs = Parameters<KernelFunc>[0];
type Inputs = Record<string, TensorInfo> | TensorInfo[];

const BACKEND = 'wasm';
const MARK = Symbol.for('vnet.wasmKernel');

/** Runs wasm kernels on TensorInfos and releases every intermediate it made except the result. */
class Scratch {
  private readonly made: TensorInfo[] = [];
  constructor(private readonly backend: tf.KernelBackend) {}

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
    for (const t of this.made) if (t !== keep) this.backend.disposeData(t.dataId);
    this.made.length = 0;
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

/** BatchMatMul / _FusedMatMul without transpose flags: explicit transposes, then the fast path. */
function flagFreeMatMul(orig: KernelConfig): KernelFunc {
  return (args: KernelArgs) => {
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    if (!transposeA && !transposeB) return orig.kernelFunc(args);
    const s = new Scratch(args.backend as tf.KernelBackend);
    try {
      const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
      const inputs = {
        ...args.inputs,
        a: transposeA ? s.transpose(a, swapLast2(a.shape.length)) : a,
        b: transposeB ? s.transpose(b, swapLast2(b.shape.length)) : b,
      };
      return orig.kernelFunc({
        ...args,
        inputs,
        attrs: { ...args.attrs, transposeA: false, transposeB: false },
      });
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
    const xw = window2d(s, x, -g.pads[0], rows, -g.pads[2], cols);
    const xt = s.transpose(xw, [3, 1, 2, 0]);
    const dyt = s.transpose(dy, [1, 2, 0, 3]);
    const w = s.run(
      'Conv2D',
      { x: xt, filter: dyt },
      { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [sh, sw], dimRoundingMode: undefined },
    ); // [C, kh, kw, O]
    return s.transpose(w, [1, 2, 0, 3]);
  });
};

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
  const [kh, kw, , O] = filter.shape as [number, number, number, number];
  const g = geometry(a.inputShape, filter.shape, a.strides, a.pad, 1, a.dimRoundingMode, false);
  const [sh, sw] = g.strides;
  const [Jh, Jw] = [Math.ceil(kh / sh), Math.ceil(kw / sw)];
  // Output rows i ∈ [0, H) are q·sh + r − top with q ∈ [q0, q1]; they read dy rows q0 − Jh + 1 … q1.
  const [q0, q1] = [Math.floor(g.pads[0] / sh), Math.floor((g.pads[0] + H - 1) / sh)];
  const [p0, p1] = [Math.floor(g.pads[2] / sw), Math.floor((g.pads[2] + W - 1) / sw)];
  const [Qh, Qw] = [q1 - q0 + 1, p1 - p0 + 1];
  return withScratch(backend as tf.KernelBackend, (s) => {
    // G[j'h, j'w, o, (rh, rw, c)] = W[(Jh − 1 − j'h)·sh + rh, (Jw − 1 − j'w)·sw + rw, c, o] (0 past k).
    const wp =
      Jh * sh > kh || Jw * sw > kw
        ? s.run(
            'PadV2',
            { x: filter },
            {
              paddings: [
                [0, Jh * sh - kh],
                [0, Jw * sw - kw],
                [0, 0],
                [0, 0],
              ],
              constantValue: 0,
            },
          )
        : filter;
    const w6 = s.reshape(wp, [Jh, sh, Jw, sw, C, O]);
    const flipped = Jh > 1 || Jw > 1 ? s.run('Reverse', { x: w6 }, { dims: [0, 2] }) : w6;
    const G = s.reshape(s.transpose(flipped, [0, 2, 5, 1, 3, 4]), [Jh, Jw, O, sh * sw * C]);
    const dyw = window2d(s, dy, q0 - Jh + 1, Qh + Jh - 1, p0 - Jw + 1, Qw + Jw - 1);
    const z = s.run(
      'Conv2D',
      { x: dyw, filter: G },
      { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined },
    ); // [B, Qh, Qw, sh·sw·C]
    // Pixel shuffle [B·Qh, Qw, sh, sw·C] → [B·Qh, sh, Qw, sw·C] = [B, Qh·sh, Qw·sw, C].
    const full =
      sh > 1
        ? s.reshape(s.transpose(s.reshape(z, [B * Qh, Qw, sh, sw * C]), [0, 2, 1, 3]), [B, Qh * sh, Qw * sw, C])
        : s.reshape(z, [B, Qh, Qw * sw, C]);
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

/** out[s, ...] = Σ_{i: ids[i] = s} x[i, ...]; ids outside [0, numSegments) are dropped (as in TF). */
const unsortedSegmentSum: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const S = (attrs as { numSegments: number }).numSegments;
  if (x.dtype !== 'float32')
    throw new Error(`UnsortedSegmentSum on wasm supports float32 only, got ${x.dtype}`);
  return withScratch(backend as tf.KernelBackend, (s) => {
    const n = segmentIds.shape.reduce((p, q) => p * q, 1);
    const rest = x.shape.slice(segmentIds.shape.length);
    const r = rest.reduce((p, q) => p * q, 1);
    const ids = s.run('Cast', { x: s.reshape(segmentIds, [n]) }, { dtype: 'int32' });
    const oneHot = s.oneHot(ids, S); // [n, S]
    const out = s.matMul(s.transpose(oneHot, [1, 0]), s.reshape(x, [n, r]));
    return s.reshape(out, [S, ...rest]);
  });
};

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
    ['BatchMatMul', flagFreeMatMul],
    ['_FusedMatMul', flagFreeMatMul],
    ['OneHot', anyDtypeOneHot],
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
}
