/**
 * The fused kernels of fused.ts for the WebGPU backend, as WGSL programs run through
 * tfjs-backend-webgpu's program runner: where the op path dispatches about a dozen small kernels
 * (and twice as many in the gradient), these dispatch one program per output:
 * - `VnetAdam`: three programs (p', m', v'), each recomputing the update of one element;
 * - `VnetFormsLower`: the new form (one thread per kept entry) and the bias term (one thread per
 *   row, a loop over the layer);
 * - `VnetFormsLowerGrad`: dA (one thread per entry of A, a loop over the samples when A is
 *   shared) and the four line gradients (one thread per sample and neuron, a loop over the rows).
 * Formulas as in fused.ts and simd/kernels.wat (a = 0 takes the a < 0 side in gradients). Tested
 * against the op path on the same backend (test/runtime/fused-webgpu.test.ts; without a GPU on
 * Dawn's OpenGL ES backend on Mesa).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { ADAM, FORMS, FORMS_GRAD, registerFusedGradient, type AdamAttrs, type FormsAttrs } from './fused.js';

const BACKEND = 'webgpu';

/** The parts of tfjs-backend-webgpu's backend these kernels use. */
interface WebGpuBackend {
  runWebGPUProgram(
    program: Program,
    inputs: TensorInfo[],
    dtype: 'float32',
    uniforms?: Uniform[],
  ): TensorInfo;
  makeTensorInfo(shape: number[], dtype: 'int32' | 'float32', values: Int32Array | Float32Array): TensorInfo;
  disposeData(id: object): boolean;
}

type Uniform = { type: 'float32' | 'int32'; data: number[] };

/** Scalar uniforms, one entry each (tfjs aligns a multi-value entry as a vector). */
const scalars = (type: Uniform['type'], xs: number[]): Uniform[] => xs.map((x) => ({ type, data: [x] }));

/** tfjs-backend-webgpu's WebGPUProgram (flat dispatch, one output element per thread). */
interface Program {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  uniforms?: string;
  workgroupSize: [number, number, number];
  size: boolean;
  getUserCode(): string;
}

const WG = 64;

/** One thread per output element; `helpers` are WGSL functions placed before `main`. */
function program(
  name: string,
  outputShape: number[],
  inputs: string[],
  uniforms: string,
  body: string,
  helpers = '',
): Program {
  const size = outputShape.reduce((a, b) => a * b, 1);
  return {
    outputShape,
    shaderKey: name,
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: [Math.ceil(size / WG), 1, 1],
    variableNames: inputs,
    uniforms,
    workgroupSize: [WG, 1, 1],
    size: true,
    getUserCode: () => `
      ${helpers}
      fn main(index : i32) {
        if (index < uniforms.size) {
          ${body}
        }
      }`,
  };
}

const adamKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const { p, g, m, v } = inputs as Record<string, TensorInfo>;
  const a = attrs as unknown as AdamAttrs;
  const be = backend as unknown as WebGpuBackend;
  const uniforms = 'b1 : f32, c1 : f32, b2 : f32, c2 : f32, eps : f32, step : f32, bc : f32, decay : f32,';
  const data = [a.beta1, 1 - a.beta1, a.beta2, 1 - a.beta2, a.epsilon, a.stepSize, a.sqrtBc2, a.decay];
  const common = `
    let p0 = p[index];
    let g0 = g[index] + p0 * uniforms.decay;
    let mv = m[index] * uniforms.b1 + g0 * uniforms.c1;
    let vv = v[index] * uniforms.b2 + (g0 * g0) * uniforms.c2;`;
  const outs: [string, string][] = [
    ['p', 'p0 - (mv / (sqrt(vv) / uniforms.bc + uniforms.eps)) * uniforms.step'],
    ['m', 'mv'],
    ['v', 'vv'],
  ];
  return outs.map(([k, value]) =>
    be.runWebGPUProgram(
      program(
        `vnetAdam_${k}`,
        [...p!.shape],
        ['p', 'g', 'm', 'v'],
        uniforms,
        `${common}\nsetOutputAtIndex(index, ${value});`,
      ),
      [p!, g!, m!, v!],
      'float32',
      scalars('float32', data),
    ),
  );
};

const SHAPE_UNIFORMS = 'B : i32, m : i32, N : i32, k : i32, isShared : i32, forms : i32,';

/** a⁺·l + a⁻·u. */
const LINE = 'fn vnetLine(a : f32, l : f32, u : f32) -> f32 { return max(a, 0.0) * l + min(a, 0.0) * u; }';

const formsLower: KernelFunc = ({ inputs, backend, attrs }) => {
  const { A, sL, sU, tL, tU } = inputs as Record<string, TensorInfo>;
  const { B, m, N, shared, cols, withForms } = attrs as unknown as FormsAttrs;
  const be = backend as unknown as WebGpuBackend;
  const k = !withForms ? 0 : cols === null ? N : cols.length;
  const u = scalars('int32', [B, m, N, Math.max(k, 1), shared ? 1 : 0, k > 0 ? 1 : 0]);
  const dot = be.runWebGPUProgram(
    program(
      'vnetFormsDot',
      [B, m],
      ['A', 'tL', 'tU'],
      SHAPE_UNIFORMS,
      `let b = index / uniforms.m;
       let j = index % uniforms.m;
       let row = (select(b, 0, uniforms.isShared == 1) * uniforms.m + j) * uniforms.N;
       var acc = 0.0;
       for (var n = 0; n < uniforms.N; n++) {
         acc += vnetLine(A[row + n], tL[b * uniforms.N + n], tU[b * uniforms.N + n]);
       }
       setOutputAtIndex(index, acc);`,
      LINE,
    ),
    [A!, tL!, tU!],
    'float32',
    u,
  );
  if (k === 0) return [be.makeTensorInfo([B * m, 0], 'float32', new Float32Array(0)), dot];
  // the kept columns (all of them when cols is null)
  const idx = be.makeTensorInfo(
    [k],
    'int32',
    cols === null ? Int32Array.from({ length: k }, (_, i) => i) : Int32Array.from(cols),
  );
  const out = be.runWebGPUProgram(
    program(
      'vnetFormsOut',
      [B * m, k],
      ['A', 'sL', 'sU', 'idx'],
      SHAPE_UNIFORMS,
      `let r = index / uniforms.k;
       let c = index % uniforms.k;
       let b = r / uniforms.m;
       let j = r % uniforms.m;
       let n = idx[c];
       let a = A[(select(b, 0, uniforms.isShared == 1) * uniforms.m + j) * uniforms.N + n];
       setOutputAtIndex(index, vnetLine(a, sL[b * uniforms.N + n], sU[b * uniforms.N + n]));`,
      LINE,
    ),
    [A!, sL!, sU!, idx],
    'float32',
    u,
  );
  be.disposeData(idx.dataId);
  return [out, dot];
};

const formsLowerGrad: KernelFunc = ({ inputs, backend, attrs }) => {
  const { A, sL, sU, tL, tU, dOut, dDot } = inputs as Record<string, TensorInfo>;
  const { B, m, N, shared, cols, withForms } = attrs as unknown as FormsAttrs;
  const be = backend as unknown as WebGpuBackend;
  const k = !withForms ? 0 : cols === null ? N : cols.length;
  // inv[n] = the kept column of neuron n, or −1
  const inv = new Int32Array(N).fill(-1);
  if (k > 0) for (let c = 0; c < k; c++) inv[cols === null ? c : cols[c]!] = c;
  const invT = be.makeTensorInfo([N], 'int32', inv);
  const u = scalars('int32', [B, m, N, Math.max(k, 1), shared ? 1 : 0, k > 0 ? 1 : 0]);
  const uniforms = SHAPE_UNIFORMS;
  // (dOut is empty without forms: bind a stand-in of zeros, never read through the select)
  const dO = k > 0 ? dOut! : be.makeTensorInfo([B * m], 'float32', new Float32Array(B * m));
  // (each program binds only what it reads: WebGPU guarantees 8 storage buffers per stage, and
  // tfjs binds every listed input)
  const named: Record<string, TensorInfo> = {
    A: A!,
    sL: sL!,
    sU: sU!,
    tL: tL!,
    tU: tU!,
    dOut: dO,
    dDot: dDot!,
    inv: invT,
  };
  const run = (
    name: string,
    shape: number[],
    names: string[],
    body: string,
    extra: TensorInfo[] = [],
  ): TensorInfo =>
    be.runWebGPUProgram(
      program(name, shape, [...names, ...extra.map((_, i) => `prev${i}`)], uniforms, body),
      [...names.map((n) => named[n]!), ...extra],
      'float32',
      u,
    );
  const dOutAt = `select(0.0, dOut[(b * uniforms.m + j) * uniforms.k + max(c, 0)], c >= 0 && uniforms.forms == 1)`;
  // dA in two programs: the bias terms' part, then the forms' part added to it
  const dAPart = (which: 't' | 's', extra: TensorInfo[]): TensorInfo =>
    run(
      `vnetFormsGradA_${which}`,
      [...A!.shape],
      which === 't' ? ['A', 'tL', 'tU', 'dDot'] : ['A', 'sL', 'sU', 'dOut', 'inv'],
      `let n = index % uniforms.N;
       let sj = index / uniforms.N;
       let j = sj % uniforms.m;
       let s = sj / uniforms.m;
       let a = A[index];
       ${which === 's' ? 'let c = inv[n];' : ''}
       var acc = ${extra.length ? 'prev0[index]' : '0.0'};
       let bFirst = select(s, 0, uniforms.isShared == 1);
       let bEnd = select(s + 1, uniforms.B, uniforms.isShared == 1);
       for (var b = bFirst; b < bEnd; b++) {
         let v = b * uniforms.N + n;
         ${
           which === 't'
             ? 'acc += select(tU[v], tL[v], a > 0.0) * dDot[b * uniforms.m + j];'
             : `acc += select(sU[v], sL[v], a > 0.0) * ${dOutAt};`
         }
       }
       setOutputAtIndex(index, acc);`,
      extra,
    );
  const dAt = dAPart('t', []);
  const dA = k > 0 ? dAPart('s', [dAt]) : dAt;
  if (dA !== dAt) be.disposeData(dAt.dataId);
  // d/dl and d/du of Σ_j a⁺·l + a⁻·u with weights dOut (s-lines) or dDot (t-lines)
  const lineGrad = (name: string, part: string, forms: boolean): TensorInfo =>
    run(
      `vnetFormsGrad_${name}`,
      [B, N],
      forms ? ['A', 'dOut', 'inv'] : ['A', 'dDot'],
      `let b = index / uniforms.N;
       let n = index % uniforms.N;
       ${forms ? 'let c = inv[n];' : ''}
       let s = select(b, 0, uniforms.isShared == 1);
       var acc = 0.0;
       for (var j = 0; j < uniforms.m; j++) {
         let a = A[(s * uniforms.m + j) * uniforms.N + n];
         acc += ${part} * ${forms ? dOutAt : 'dDot[b * uniforms.m + j]'};
       }
       setOutputAtIndex(index, acc);`,
    );
  const outs = [
    dA,
    lineGrad('sL', 'max(a, 0.0)', true),
    lineGrad('sU', 'min(a, 0.0)', true),
    lineGrad('tL', 'max(a, 0.0)', false),
    lineGrad('tU', 'min(a, 0.0)', false),
  ];
  be.disposeData(invT.dataId);
  if (dO !== dOut) be.disposeData(dO.dataId);
  return outs;
};

/** Registers the WGSL kernels for the webgpu backend (idempotent; called when it starts). */
export function installWebgpuKernels(): void {
  for (const [kernelName, kernelFunc] of [
    [ADAM, adamKernel],
    [FORMS, formsLower],
    [FORMS_GRAD, formsLowerGrad],
  ] as const)
    if (!tf.getKernel(kernelName, BACKEND))
      tf.registerKernel({ kernelName, backendName: BACKEND, kernelFunc });
  registerFusedGradient();
}
