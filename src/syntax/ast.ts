/**
 * The abstract syntax of a `.vnet` spec: immutable discriminated unions (`kind` equals the
 * interface name), spans as offsets only. The AST mirrors the generic surface syntax (blocks of
 * entries); the checker gives blocks, keys and calls their meaning. Under parser recovery a
 * missing piece becomes an `ErrorExpr` (or an empty name), never a crash; such ASTs never reach
 * the checker, which runs only on error-free parses.
 */
import type { Span } from '../diagnostics/source.js';

export type { Span };

interface NodeBase<K extends string> {
  readonly kind: K;
  readonly span: Span;
}

/** A name as written. `text` is empty when recovery invented it. */
export interface Ident extends NodeBase<'Ident'> {
  readonly text: string;
}

export interface Program extends NodeBase<'Program'> {
  readonly blocks: readonly Block[];
}

/** A top-level block: `network mlp { ... }`, `train { ... }`. */
export interface Block extends NodeBase<'Block'> {
  readonly keyword: Ident;
  readonly name: Ident | undefined;
  readonly entries: readonly Entry[];
}

export type Entry = Assignment | NestedBlock | Statement;

/** `key = value` */
export interface Assignment extends NodeBase<'Assignment'> {
  readonly key: Ident;
  readonly value: Expr;
}

/** `key { entries }` */
export interface NestedBlock extends NodeBase<'NestedBlock'> {
  readonly key: Ident;
  readonly entries: readonly Entry[];
}

/** A bare name or call on its own: `relu`, `conv2d(16, kernel: 4)` (layers). */
export interface Statement extends NodeBase<'Statement'> {
  readonly expr: Ident | Call;
}

export type Expr = NumberLit | ShapeLit | StringLit | ListExpr | Ident | Call | RangeExpr | ErrorExpr;

/**
 * A number as written (`0.1`, `-2`, `8/255`). `value` may be non-finite (`8/0`, `1e999`);
 * the checker reports that where the number is used.
 */
export interface NumberLit extends NodeBase<'NumberLit'> {
  readonly value: number;
  readonly text: string;
  /** Why `value` is not a usable number, if it is not. */
  readonly problem: 'division by zero' | 'not a finite number' | undefined;
}

/** `1x28x28` */
export interface ShapeLit extends NodeBase<'ShapeLit'> {
  readonly dims: readonly number[];
  readonly text: string;
}

export interface StringLit extends NodeBase<'StringLit'> {
  readonly value: string;
}

export interface ListExpr extends NodeBase<'ListExpr'> {
  readonly items: readonly Expr[];
}

/** `adam(lr: 1e-3)`, `dense(10)`. */
export interface Call extends NodeBase<'Call'> {
  readonly callee: Ident;
  readonly args: readonly Arg[];
}

/** A positional (`name` undefined) or named (`kernel: 4`) argument. */
export interface Arg extends NodeBase<'Arg'> {
  readonly name: Ident | undefined;
  readonly value: Expr;
}

/** `0.01 -> 0` */
export interface RangeExpr extends NodeBase<'RangeExpr'> {
  readonly from: Expr;
  readonly to: Expr;
}

/** A value the parser could not recover. */
export type ErrorExpr = NodeBase<'ErrorExpr'>;
