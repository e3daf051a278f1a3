/**
 * The contract of one operator. Everything vnet knows about an op kind lives in its own file
 * `src/ops/<kind>.ts` as one `OpDef`: the checker rule (arguments, shape inference with its
 * diagnostics, the parameters it owns), its float64 reference semantics (a lowering to linear
 * maps or an elementwise activation, which the reference interpreter's generic IBP / LBP / CROWN
 * walks use), and the code it emits for the clean forward pass, IBP, LBP and the CROWN backward
 * step (calls of runtime primitives). `src/ops/index.ts` lists the ops; the checker, the code
 * generator and the reference interpreter are generic walks over the graph that only ask the op.
 */
import type { Layer, Op, OpKind, ParamRole, Shape } from '../ir/ir.js';
import type { DiagnosticBag } from '../diagnostics/diagnostic.js';
import type { Span } from '../diagnostics/source.js';
import type { ActParams } from '../runtime/lines.js';
import type { ArgSpec, BoundArgs } from '../semantics/args.js';

/** One input of a node, for shape inference and its messages. */
export interface LayerInput {
  readonly shape: Shape;
  /** "the network input" or "its input 'conv2'". */
  readonly from: string;
}

/** A parameter a node owns, before naming (`<node>.<param>`). */
export interface ParamShape {
  /** Suffix of the PyTorch name (`weight`, `bias`, `r`, `running_mean`, …). */
  readonly param: string;
  readonly role: ParamRole;
  readonly torchShape: Shape;
  readonly fanIn: number;
}

/** The checker's rule of an op kind. */
export interface OpRule {
  /** The name written in specs (usually the op kind). */
  readonly name: string;
  readonly kind: OpKind;
  readonly args: readonly ArgSpec[];
  /** Number of inputs the op takes: exactly n, or [min, max] (max may be Infinity). */
  readonly arity: number | readonly [number, number];
  /** A correct call, for help lines. */
  readonly example: string;
  readonly doc: string;
  /** Builds the op for these inputs and infers the output shape; undefined after a reported error. */
  infer(
    args: BoundArgs,
    inputs: readonly LayerInput[],
    at: Span,
    bag: DiagnosticBag,
  ): { op: Op; outShape: Shape } | undefined;
  /** The parameters of `op` applied to inputs of these shapes. */
  params(op: Op, inShapes: readonly Shape[]): readonly ParamShape[];
}

/** Reads a node's parameter (PyTorch layout, float64) by role; undefined when it has none. */
export type RefParam = (role: ParamRole) => Float64Array | undefined;

/** Reference activation options (as RunOptions of the runtime, without noise). */
export interface RefActOptions {
  readonly eta?: number;
  readonly rampAsLeaky?: boolean;
}

/**
 * The float64 semantics of a node on flattened C,H,W vectors: the identity, an affine map of its
 * inputs (Σ_k W_k·x_k + b, each W_k row-major [nOut, nIn_k]), or an elementwise activation.
 */
export type RefOp =
  | { readonly kind: 'alias' }
  | { readonly kind: 'linear'; readonly W: readonly Float64Array[]; readonly b: Float64Array }
  | { readonly kind: 'act'; readonly act: ActParams<Float64Array> }
  /**
   * Max over windows: output o is the max of the inputs `cells[o·K + k]`, k < K (flattened C,H,W
   * indices); relaxed by src/runtime/maxpool-lines.ts.
   */
  | { readonly kind: 'maxpool'; readonly cells: Int32Array; readonly K: number };

/** What an op's emitter gets: the node and the generated names around it. */
export interface EmitNode {
  readonly l: Layer;
  /** The state (or value) variable of each input in the function being emitted. */
  readonly inputs: readonly string[];
  /** `p.<ident>` of the node's parameter with this role, or undefined. */
  param(role: ParamRole): string | undefined;
  /** The node's constant config table (`cfg_<ident>`), for ops with `config`. */
  readonly cfg: string;
  /** The node's per-call data (`aux`), for ops with `aux`. */
  readonly aux: string;
}

/** The code an op emits: runtime calls, as TypeScript expressions. */
export interface OpEmit {
  /** Clean forward value from the input values. */
  forward(e: EmitNode): string;
  /** IBP state from the input states. */
  ibp(e: EmitNode): string;
  /** LBP state from the input states. */
  lbp(e: EmitNode): string;
  /** CROWN: the backward state of each input, given the node's backward state `f`. */
  back(e: EmitNode, f: string): readonly string[];
}

export interface OpDef {
  readonly kind: OpKind;
  /** The checker rules that produce this kind (usually one). */
  readonly rules: readonly OpRule[];
  /** One-line description of a node for generated comments, rebuilt from checked values only. */
  describe(op: Op): string;
  /**
   * The spec text of a node without its inputs: the rule name and its arguments, with numbers that
   * read back to the same values (`vnet import` writes specs with it).
   */
  text(op: Op): { readonly name: string; readonly args: readonly string[] };
  /** Float64 semantics of a node (the reference interpreter). */
  ref(l: Layer, param: RefParam, o: RefActOptions): RefOp;
  /** Activations: the runtime `ActSpec` expression of one call (emitted into `resolveActs`). */
  readonly activation?: {
    /** `ordinal` counts this kind's nodes (ParamRamp salts its r noise with it). */
    spec(e: EmitNode, ordinal: number): string;
    /** Does the spec read the RunOptions `o` / the parameters `p`? */
    readonly usesOptions: boolean;
    readonly usesParams: boolean;
  };
  /** A constant config table emitted once per node (`const cfg_<ident>: <type> = <value>`). */
  config?(l: Layer): { readonly type: string; readonly value: unknown } | undefined;
  /**
   * Per-call data of a node (BatchNorm's scale and shift), computed where the node is first met
   * in a pass: an expression given the clean input value (`x`, or 'null' where none is carried).
   */
  readonly aux?: { readonly type: string; expr(e: EmitNode, x: string): string };
  /** Linear ops only: the emitter skips nothing, but the forward sweeps need no relaxation. */
  readonly emit?: OpEmit;
  /**
   * Nonlinear ops that are not elementwise activations (max pooling): like an activation, the
   * node gets a relaxation from the bounds of its input (kept in `Relax` for the backward pass;
   * full CROWN bounds that input by its own backward pass), and its LBP and CROWN steps use it
   * instead of `emit.lbp` / `emit.back`. `emit.forward` and `emit.ibp` stay as for linear ops.
   */
  readonly relaxed?: {
    /** The runtime type of the relaxation. */
    readonly type: string;
    /** The relaxation from the input's bounds `l`, `u` (the line strategy is the variable `lines`). */
    make(e: EmitNode, l: string, u: string): string;
    /** LBP state from the input state and the relaxation. */
    lbp(e: EmitNode, rel: string): string;
    /** CROWN: the backward state of the input, given the node's backward state and relaxation. */
    back(e: EmitNode, f: string, rel: string): string;
  };
}

/** An op's data, narrowed (ops check their own kind). */
export function opOf<K extends OpKind>(op: Op, kind: K): Extract<Op, { kind: K }> {
  if (op.kind !== kind) throw new Error(`internal: ${kind} rule applied to a ${op.kind} node`);
  return op as Extract<Op, { kind: K }>;
}
