/**
 * The table of every diagnostic vnet can report: code, severity and message template. Codes are
 * grouped by thousands (as in tsc's diagnosticMessages.json):
 * - VN1xxx: reading the file, lexing (10xx) and parsing (11xx); VNN-LIB properties (12xx);
 * - VN2xxx: spec structure and options (20xx), layers and names (21xx), shapes (22xx);
 * - VN4xxx: threat model, training recipe and verification settings;
 * - VN9xxx: internal compiler errors.
 * Every code has a baseline in `test/baselines/` (a meta-test enforces it). Messages start with a
 * lower-case letter and have no final period; quoted spec text uses single quotes.
 */

export type Severity = 'error' | 'warning' | 'note';

/** One entry of the table: `format` fills the template from typed arguments. */
export interface MessageDef<A extends readonly unknown[]> {
  readonly code: number;
  readonly severity: Severity;
  readonly format: (...args: A) => string;
}

const def = <A extends readonly unknown[]>(
  code: number,
  format: (...args: A) => string,
  severity: Severity = 'error',
): MessageDef<A> => ({ code, severity, format });

type S = string;
type N = number;

export const Diag = {
  // VN10xx: the file and its characters
  CannotReadFile: def(1001, (path: S, reason: S) => `cannot read '${path}': ${reason}`),
  InvalidEncoding: def(1002, (path: S) => `'${path}' is not UTF-8 text`),
  EmptyFile: def(1003, () => 'the spec is empty'),
  UnexpectedCharacter: def(1004, (chars: S) =>
    chars.length > 24
      ? `unexpected characters '${chars.slice(0, 24)}...' (${chars.length} in a row)`
      : `unexpected character${chars.length > 1 ? 's' : ''} '${chars}'`,
  ),
  UnterminatedComment: def(1005, () => 'unterminated block comment'),
  UnterminatedString: def(1006, () => 'unterminated string'),
  SpecTooLarge: def(1007, (limit: S, size: S) => `the spec is longer than ${limit} characters${size}`),
  TokenTooLong: def(
    1008,
    (what: S, length: S, limit: S) => `this ${what} is ${length} characters long (at most ${limit})`,
  ),

  // VN11xx: syntax (the message comes from grammar/parser.ts `vnetErrorMessages`)
  ExpectedToken: def(1101, (message: S) => message),
  ExpectedAlternative: def(1102, (message: S) => message),
  UnexpectedTopLevel: def(1103, (message: S) => message),
  NestingTooDeep: def(1104, (limit: N) => `brackets and blocks are nested more than ${limit} levels deep`),
  TooManyErrors: def(1105, (shown: N) => `too many errors; only the first ${shown} are shown`, 'note'),
  ListTooLong: def(1106, (what: S, limit: S) =>
    what === 'call' ? `this call has more than ${limit} arguments` : `this list has more than ${limit} items`,
  ),
  TooManyTokens: def(1107, (limit: S) => `the spec has more than ${limit} tokens`),

  // VN12xx: VNN-LIB properties
  VnnlibSyntax: def(1201, (message: S) => message),
  VnnlibUnsupported: def(1202, (message: S) => message),

  // VN20xx: blocks, options and values
  UnknownBlock: def(2001, (name: S) => `unknown block '${name}'`),
  DuplicateBlock: def(2002, (name: S) => `duplicate '${name}' block`),
  MissingBlock: def(2003, (name: S) => `missing the '${name}' block`),
  MissingNetworkName: def(2004, () => 'the network block needs a name'),
  UnexpectedBlockName: def(
    2005,
    (block: S, name: S) => `the '${block}' block takes no name, found '${name}'`,
  ),
  UnknownOption: def(2006, (key: S, where: S) => `unknown option '${key}' in ${where}`),
  DuplicateOption: def(2007, (key: S) => `'${key}' is set more than once`),
  MissingOption: def(2008, (key: S, where: S) => `missing required option '${key}' in ${where}`),
  WrongEntryForm: def(2009, (key: S, form: S) => `'${key}' must be written as ${form}`),
  WrongType: def(2010, (what: S, expected: S, found: S) => `${what} expects ${expected}, found ${found}`),
  InvalidNumber: def(2011, (text: S, reason: S) => `invalid number '${text}': ${reason}`),
  OutOfRange: def(2012, (what: S, rule: S, value: S) => `${what} must be ${rule}, found ${value}`),
  UnknownValue: def(2013, (what: S, value: S) => `unknown ${what} '${value}'`),
  DuplicateItem: def(2014, (what: S, value: S) => `${what} lists '${value}' more than once`),

  // VN21xx: layers and names
  UnknownLayerKind: def(2101, (kind: S) => `unknown layer kind '${kind}'`),
  UnknownArgument: def(2102, (kind: S, name: S) => `${kind} has no argument '${name}'`),
  TooManyArguments: def(2103, (kind: S, max: N) =>
    max === 0 ? `${kind} takes no arguments` : `${kind} takes at most ${max} argument${max === 1 ? '' : 's'}`,
  ),
  MissingArgument: def(2104, (kind: S, name: S) => `${kind} needs the argument '${name}'`),
  DuplicateArgument: def(2105, (kind: S, name: S) => `${kind} gets the argument '${name}' twice`),
  NotALayer: def(2106, (found: S) => `expected a layer such as 'dense(10)' or 'relu', found ${found}`),
  NoLayers: def(2107, () => 'the network has no layers'),
  DuplicateLayerName: def(2108, (name: S) => `duplicate layer name '${name}'`),
  InvalidName: def(2109, (name: S) => `'${name}' is not a valid name`),
  ReservedName: def(2110, (name: S) => `'${name}' is a reserved word and cannot name a layer or network`),
  NameCollision: def(
    2111,
    (name: S, other: S) => `the name '${name}' collides with ${other} in generated code`,
  ),

  UnknownInput: def(2112, (name: S, node: S) => `unknown input '${name}' of layer '${node}'`),
  ForwardInput: def(
    2113,
    (name: S, node: S) =>
      `layer '${node}' reads '${name}', which is defined after it (inputs come from earlier layers; a network has no cycles)`,
  ),
  BlockWithoutName: def(2130, () => 'a block needs a name'),
  BlockNameIsLayer: def(2131, (name: S) => `'${name}' is a layer kind and cannot name a block`),
  DuplicateBlockDef: def(2132, (name: S) => `block '${name}' is defined twice`),
  BlockWithoutLayers: def(2133, (name: S) => `block '${name}' has no layers`),
  BadBlockParam: def(2134, () => 'a block parameter is a name, or `name = default`'),
  DuplicateBlockParam: def(2135, (name: S) => `block parameter '${name}' is given twice`),
  BlockInput: def(
    2136,
    (name: S, n: N) => `a use of block '${name}' names its one input first (found ${n} input names)`,
  ),
  BlockPositional: def(2137, (name: S) => `the parameters of block '${name}' are given by name`),
  UnknownBlockParam: def(2138, (name: S, param: S) => `block '${name}' has no parameter '${param}'`),
  MissingBlockParam: def(
    2139,
    (name: S, param: S) => `block '${name}' needs a value for its parameter '${param}'`,
  ),
  BlockCycle: def(2140, (path: S) => `blocks use each other in a cycle: ${path}`),
  UnusedLayer: def(2114, (name: S) => `the output of layer '${name}' is never used`, 'warning'),
  InputCount: def(
    2115,
    (kind: S, n: N | S, found: N) => `${kind} takes ${n} input${n === 1 ? '' : 's'}, found ${found}`,
  ),

  // VN22xx: shapes
  BadInputShape: def(
    2201,
    (found: S) => `the input must be an image CxHxW or a vector size N, found ${found}`,
  ),
  DenseNeedsVector: def(
    2202,
    (from: S, shape: S) => `dense needs a vector input, but ${from} has shape ${shape}`,
  ),
  ConvNeedsImage: def(
    2203,
    (from: S, shape: S) => `conv2d needs a CxHxW input, but ${from} has shape ${shape}`,
  ),
  FlattenNeedsImage: def(
    2204,
    (from: S, shape: S) => `flatten needs a CxHxW input, but ${from} is already a vector ${shape}`,
  ),
  KernelTooLarge: def(
    2205,
    (kernel: S, input: S) => `kernel ${kernel} is larger than its padded input ${input}`,
  ),
  LastLayerNotDense: def(
    2206,
    (name: S, kind: S) =>
      `the last layer must be a dense layer producing the logits, but '${name}' is a ${kind}`,
  ),
  ClassCountMismatch: def(
    2207,
    (name: S, out: N, classes: N) =>
      `the last layer '${name}' has ${out} outputs but the network has ${classes} classes`,
  ),
  NeedsImage: def(
    2209,
    (kind: S, from: S, shape: S) => `${kind} needs a CxHxW input, but ${from} has shape ${shape}`,
  ),
  InputShapeMismatch: def(
    2210,
    (kind: S, a: S, sa: S, b: S, sb: S) =>
      `${kind} needs inputs of the same shape, but ${a} is ${sa} and ${b} is ${sb}`,
  ),
  ConcatShapeMismatch: def(
    2221,
    (a: S, sa: S, b: S, sb: S) =>
      `concat joins along the first (channel) dimension, so its inputs must agree in the others, but ${a} is ${sa} and ${b} is ${sb}`,
  ),
  WrongRank: def(
    2222,
    (kind: S, expected: S, from: S, shape: S) => `${kind} needs ${expected}, but ${from} has shape ${shape}`,
  ),
  ReshapeSize: def(
    2223,
    (target: S, n: N, from: S, shape: S, m: N) =>
      `reshape to ${target} needs ${n} values, but ${from} has shape ${shape} (${m} values)`,
  ),
  ConstantLength: def(
    2224,
    (kind: S, n: N, from: S, shape: S, c: N) =>
      `${kind} has ${n} constant values, but ${from} has shape ${shape}: give 1 value or ${c} (one per channel or feature)`,
  ),
  BadPermutation: def(
    2225,
    (found: S) => `transpose needs a permutation of the axes [0, 1, 2] (C, H, W), found ${found}`,
  ),
  NormalisationLength: def(
    2208,
    (which: S, n: N, channels: N) => `${which} has ${n} values but the input has ${channels} channels`,
  ),

  // VN4xxx: threat model, training, verification
  EpsOutsideDomain: def(
    4001,
    (what: S, value: S, width: S) =>
      `${what} must lie in [0, ${width}] (the width of the input domain), found ${value}`,
  ),
  UnsupportedNorm: def(4002, (norm: S) => `unsupported norm '${norm}': vnet supports only linf`),
  UnknownDataset: def(4003, (name: S) => `unknown dataset '${name}'`),
  DatasetInputMismatch: def(
    4004,
    (dataset: S, images: S, input: S) =>
      `dataset ${dataset} has ${images} inputs, but the network input is ${input}`,
  ),
  DatasetClassMismatch: def(
    4005,
    (dataset: S, k: N, classes: N) => `dataset ${dataset} has ${k} classes, but the network has ${classes}`,
  ),
  ScheduleExceedsEpochs: def(
    4006,
    (what: S, end: N, epochs: N) =>
      `the ${what} reaches its final value in epoch ${end}, but training runs only ${epochs} epochs`,
    'warning',
  ),
  EtaScheduleWithoutSlope: def(4007, () => 'eta_schedule needs a leaky_relu or paramramp layer to act on'),
  EtaScheduleMismatch: def(
    4008,
    (from: N, layer: S, eta: N) => `eta_schedule starts at ${from}, but layer '${layer}' has slope ${eta}`,
    'warning',
  ),
  NaturalWithBoundTerms: def(
    4009,
    (what: S) => `${what} needs bounds, but method = natural trains without any`,
  ),

  // VN9xxx: internal errors
  InternalError: def(9001, (message: S) => `internal compiler error: ${message}`),
} as const;

/** Every code in the table, ascending. */
export const allCodes = (): number[] =>
  Object.values(Diag)
    .map((d) => d.code)
    .sort((a, b) => a - b);

/** `VN1234` */
export const codeText = (code: number): string => `VN${code}`;
