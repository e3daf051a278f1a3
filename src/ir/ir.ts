/**
 * The checked IR of a `.vnet` spec: what every later phase (codegen, the float64 reference,
 * the trainer, the verifier) consumes. Produced only by `src/semantics/check.ts`, and only for
 * specs without errors. Plain, immutable, JSON-serialisable data.
 *
 * Conventions (stated once, here):
 * - Shapes exclude the batch dimension and follow PyTorch: images are [C, H, W], vectors [N].
 * - Parameters are described in PyTorch layout (`torchShape`): dense weight [out, in],
 *   conv weight [out, in, kh, kw], bias [out], ParamRamp r shaped like the layer's neurons.
 *   The tfjs runtime keeps its own internal layout (NHWC activations, dense [in, out], conv
 *   [kh, kw, in, out]); `src/runtime/layout.ts` is the only place that converts.
 * - Flatten follows torch.flatten: C, H, W order.
 * - The network is a DAG of named nodes (`layers`, in topological order): each names its inputs
 *   (`inputs`, `input` for the network input) and the last node is the output. A `layers` block
 *   without explicit inputs is a chain. Each op kind's rules live in `src/ops/<kind>.ts`.
 */

/** A source position, 1-based line and column, plus 0-based offsets [start, end). */
export interface Origin {
  readonly line: number;
  readonly col: number;
  readonly start: number;
  readonly end: number;
}

export type Shape = readonly number[];

/** Explicit per-side zero padding: [top, bottom, left, right]. `same` is resolved by the checker. */
export type Padding4 = readonly [number, number, number, number];

export type Op =
  | { readonly kind: 'dense'; readonly out: number; readonly bias: boolean }
  | {
      readonly kind: 'conv2d';
      readonly out: number;
      readonly kernel: readonly [number, number];
      readonly stride: readonly [number, number];
      readonly padding: Padding4;
      readonly bias: boolean;
    }
  /**
   * `permute`: set by the checker when the flattened vector reaches anything but activations and
   * dense layers (the runtime then reorders it into C,H,W order; otherwise the dense weight after
   * it is permuted at load time instead).
   */
  | { readonly kind: 'flatten'; readonly permute?: true }
  | { readonly kind: 'relu' }
  | { readonly kind: 'leaky_relu'; readonly slope: number }
  /** ParamRamp(η): per-neuron learnable r (paper-notes §1). `eta` is the spec's (initial) slope. */
  | { readonly kind: 'paramramp'; readonly eta: number }
  /** BatchNorm over channels (or features): eval = affine from running statistics (PyTorch's). */
  | { readonly kind: 'batchnorm'; readonly eps: number; readonly momentum: number; readonly affine: boolean }
  /**
   * Sum of two nodes of the same shape (residual connections), or (`value`) of one node and a
   * constant per channel (maps) or feature (vectors), length 1 (a scalar) or C.
   */
  | { readonly kind: 'add'; readonly value?: readonly number[] }
  /** x − c, x·c, x / c by a constant per channel / feature (length 1 or C; c ≠ 0 for div). */
  | { readonly kind: 'sub'; readonly value: readonly number[] }
  | { readonly kind: 'mul'; readonly value: readonly number[] }
  | { readonly kind: 'div'; readonly value: readonly number[] }
  /** Concatenation of two or more nodes along channels (maps) or features (vectors). */
  | { readonly kind: 'concat' }
  /** The same values in C,H,W row-major order, another shape ([C, H, W] or [N]): torch.reshape. */
  | { readonly kind: 'reshape'; readonly shape: Shape }
  /** A permutation of the C, H, W axes (torch.permute of the non-batch axes). */
  | { readonly kind: 'transpose'; readonly perm: readonly [number, number, number] }
  /** Average pooling (count_include_pad, like PyTorch's default); `global` averages the whole map. */
  | {
      readonly kind: 'avgpool';
      readonly kernel: readonly [number, number];
      readonly stride: readonly [number, number];
      readonly padding: Padding4;
    }
  /** Zero padding of a map: [top, bottom, left, right]. */
  | { readonly kind: 'pad'; readonly padding: Padding4 }
  /** Sigmoid 1/(1 + e^(−z)), elementwise. */
  | { readonly kind: 'sigmoid' }
  /** tanh(z), elementwise. */
  | { readonly kind: 'tanh' }
  /** Max pooling over windows of a map (torch.nn.MaxPool2d without padding, dilation 1). */
  | {
      readonly kind: 'maxpool';
      readonly kernel: readonly [number, number];
      readonly stride: readonly [number, number];
    };

export type OpKind = Op['kind'];
export type ActivationOp = Extract<Op, { kind: 'relu' | 'leaky_relu' | 'paramramp' | 'sigmoid' | 'tanh' }>;
export type OpOf<K extends OpKind> = Extract<Op, { kind: K }>;
export type AffineOp = Extract<Op, { kind: 'dense' | 'conv2d' }>;

export const ACTIVATION_KINDS: readonly OpKind[] = ['relu', 'leaky_relu', 'paramramp', 'sigmoid', 'tanh'];
export const isActivation = (op: Op): op is ActivationOp => ACTIVATION_KINDS.includes(op.kind);
export const isAffine = (op: Op): op is AffineOp => op.kind === 'dense' || op.kind === 'conv2d';

/** How a parameter is stored in PyTorch; decides the conversion to the runtime layout. */
export type ParamRole =
  'dense.weight' | 'conv.weight' | 'bias' | 'ramp.r' | 'bn.weight' | 'bn.bias' | 'bn.mean' | 'bn.var';

/** Roles of buffers: saved and loaded with the weights, never trained by the optimiser. */
export const BUFFER_ROLES: readonly ParamRole[] = ['bn.mean', 'bn.var'];
export const isBuffer = (p: { readonly role: ParamRole }): boolean => BUFFER_ROLES.includes(p.role);

export interface ParamSpec {
  /** PyTorch state_dict name, e.g. `conv1.weight`. */
  readonly name: string;
  /** Valid TypeScript identifier used in generated code, e.g. `conv1_weight`. */
  readonly ident: string;
  readonly role: ParamRole;
  readonly torchShape: Shape;
  /**
   * For a dense weight that follows a flatten of a [C, H, W] map: that map's shape, so the runtime
   * can permute the columns from torch's C,H,W order into its own H,W,C order (zero cost at run time).
   */
  readonly flattenedFrom?: Shape;
  /** Fan-in used by PyTorch's default init (kaiming_uniform(a=√5) ⇒ U(±1/√fanIn) for weight and bias). */
  readonly fanIn: number;
}

export interface Layer {
  readonly index: number;
  /** User-given name or a stable default (`<kind><n>`, n counting layers of that kind from 1). */
  readonly name: string;
  /** Identifier-safe version of `name` (validated by the checker; used in generated code). */
  readonly ident: string;
  readonly op: Op;
  /** Names of the nodes feeding this one, in argument order; `input` for the network input. */
  readonly inputs: readonly string[];
  /** Shape of each input (same order as `inputs`). */
  readonly inShapes: readonly Shape[];
  /** Shape of the first input. */
  readonly inShape: Shape;
  readonly outShape: Shape;
  readonly params: readonly ParamSpec[];
  readonly origin: Origin;
}

export interface InputIR {
  /** [C, H, W] or [N]. */
  readonly shape: Shape;
  /** Raw value domain, e.g. [0, 1], or [−∞, ∞] (`domain = unbounded`); the L∞ ball is intersected with it. */
  readonly domain: readonly [number, number];
  /** Per-channel normalisation applied inside the network: (x − mean) / std. Length C (or 1). */
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

export interface ThreatIR {
  readonly norm: 'linf';
  readonly trainEps: number;
  readonly testEps: readonly number[];
}

export type TrainMethod = 'natural' | 'ibp' | 'crown-ibp';
export type LineStrategy = 'tight' | 'adaptive' | 'constant';
export type BoundMethod = 'ibp' | 'lbp' | 'crown-ibp' | 'crown-lbp' | 'crown';
export type ScheduleShape = 'linear' | 'smoothed';
export type DatasetName = 'fashion-mnist' | 'mnist' | 'cifar10';

export interface TrainRecipe {
  readonly dataset: DatasetName;
  readonly epochs: number;
  readonly batchSize: number;
  readonly optimizer: { readonly kind: 'adam'; readonly lr: number; readonly weightDecay: number };
  readonly lrMilestones: readonly number[];
  readonly lrFactor: number;
  /** ε ramp, per iteration: ε = 0 before `start` (epochs), reaches trainEps after `length` epochs. */
  readonly epsSchedule: { readonly start: number; readonly length: number; readonly shape: ScheduleShape };
  readonly method: TrainMethod;
  readonly kappa: readonly [number, number];
  readonly beta: readonly [number, number];
  /** η (ParamRamp / LeakyReLU slope) schedule per epoch; absent ⇒ constant slopes from the layers. */
  readonly etaSchedule?: {
    readonly from: number;
    readonly to: number;
    readonly start: number;
    readonly length: number;
    readonly shape: ScheduleShape;
  };
  readonly lines: LineStrategy;
  readonly seed: number;
  readonly valSplit: number;
  /** Relative std of the Gaussian noise on r (paper: 0.01; 0 = off). */
  readonly rNoise: number;
  /** Weight initialisation; absent = PyTorch's default (`init = pytorch`). */
  readonly init?: 'ibp';
  /** Shi et al. 2021's warm-up regularisers; absent = off. */
  readonly regularizers?: WarmupRegularizers;
  /** Global gradient-norm clip (Shi et al. 2021: 10); absent = no clipping. */
  readonly gradClip?: number;
  /** How the robust loss is formed; absent = the robust cross-entropy of the bounds (paper Eq. 5). */
  readonly loss?: TrainLossKind;
}

/**
 * Shi et al. 2021 (§4.3): during the ε ramp, λ·(1 − ε/ε_max)·(L_tightness + L_relu) is added to the
 * loss, both computed from the IBP pre-activation bounds of every activation layer, with tolerance τ.
 */
export interface WarmupRegularizers {
  /** λ₀. */
  readonly lambda: number;
  /** τ. */
  readonly tol: number;
  readonly tightness: boolean;
  readonly relu: boolean;
}

/** The PGD attack inside a training step: `steps` signed-gradient steps of `step`·ε from a random start. */
export interface TrainAttack {
  readonly steps: number;
  /** Step size as a fraction of the current ε. */
  readonly step: number;
}

/**
 * `mtl_ibp(alpha)`: (1 − α)·CE(f(x_adv)) + α·CE(−lb) (De Palma et al., ICLR 2024);
 * `sabr(lambda)`: the bound of the small box B(x_adv, λε) ⊂ B(x, ε) (Müller et al., ICLR 2023).
 */
export type TrainLossKind =
  | ({ readonly kind: 'mtl_ibp'; readonly alpha: number } & TrainAttack)
  | ({ readonly kind: 'sabr'; readonly lambda: number } & TrainAttack);

export interface VerifyConfig {
  readonly methods: readonly BoundMethod[];
  readonly lines: LineStrategy;
  readonly pgd: { readonly steps: number; readonly restarts: number; readonly stepSize: number };
}

export interface ModelIR {
  /** Network name as written in the spec (validated identifier). */
  readonly name: string;
  /** Module name: the spec file's base name, e.g. `fmnist-mlp`. */
  readonly moduleName: string;
  /** Spec path as given (repo-relative in goldens; never absolute in generated text). */
  readonly sourcePath: string;
  /** sha256 of the spec text, hex. */
  readonly specHash: string;
  readonly input: InputIR;
  readonly classes: number;
  readonly layers: readonly Layer[];
  readonly params: readonly ParamSpec[];
  readonly paramCount: number;
  /** Absent when the spec has no `threat` block (bounds and verification with an explicit ε). */
  readonly threat?: ThreatIR;
  /** Absent when the spec has no `train` block (a network to bound or verify, e.g. imported from ONNX). */
  readonly train?: TrainRecipe;
  readonly verify: VerifyConfig;
}

export const numel = (s: Shape): number => s.reduce((a, b) => a * b, 1);
