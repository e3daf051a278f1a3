/**
 * The `threat`, `train` and `verify` blocks → ThreatIR, TrainRecipe and VerifyConfig, with every
 * documented default. Defaults follow the paper's MNIST recipe (paper-notes §5): Adam 5e-4,
 * 200 epochs, batch 256, lr ×0.1 at [130, 190], ε ramp from epoch 10 over 51 epochs, seed 2019;
 * verification uses tight lines and PGD with 200 steps and 10 restarts (§10.13).
 *
 * Schedules count epochs from 0: a ramp with `start` s and `length` n is 0 before epoch s and
 * reaches its final value at epoch s + n − 1 (the CROWN-IBP convention).
 */
import type {
  BoundMethod,
  DatasetName,
  LineStrategy,
  ScheduleShape,
  ThreatIR,
  TrainLossKind,
  TrainMethod,
  TrainRecipe,
  VerifyConfig,
  WarmupRegularizers,
} from '../ir/ir.js';
import { numel } from '../ir/ir.js';
import type { DiagnosticBag } from '../diagnostics/diagnostic.js';
import { Diag } from '../diagnostics/messages.js';
import type { Span } from '../diagnostics/source.js';
import type { Entry, Expr } from '../syntax/ast.js';
import { argSpec, readArgs } from './args.js';
import type { NetworkFacts } from './network.js';
import { blockOption, readOptions, valueOption, type Values } from './schema.js';
import {
  anyNumber,
  bool,
  SIZE,
  describeExpr,
  didYouMean,
  EPOCH,
  listOf,
  NON_NEGATIVE,
  num,
  oneOf,
  POSITIVE,
  rangeOf,
  SLOPE,
  UNIT,
  type Reader,
} from './values.js';

/** The values each enumerated option accepts. */
export const DATASETS: readonly DatasetName[] = ['fashion-mnist', 'mnist', 'cifar10'];
export const TRAIN_METHODS: readonly TrainMethod[] = ['natural', 'ibp', 'crown-ibp'];
export const BOUND_METHODS: readonly BoundMethod[] = ['ibp', 'crown-ibp', 'lbp', 'crown-lbp', 'crown'];
export const LINE_STRATEGIES: readonly LineStrategy[] = ['tight', 'adaptive', 'constant'];
export const SCHEDULE_SHAPES: readonly ScheduleShape[] = ['linear', 'smoothed'];

/** Image shape, class count and class names (label order) of each dataset. */
export const DATASET_INFO: Readonly<
  Record<
    DatasetName,
    { readonly shape: readonly number[]; readonly classes: number; readonly classNames: readonly string[] }
  >
> = {
  'fashion-mnist': {
    shape: [1, 28, 28],
    classes: 10,
    classNames: [
      'T-shirt/top',
      'Trouser',
      'Pullover',
      'Dress',
      'Coat',
      'Sandal',
      'Shirt',
      'Sneaker',
      'Bag',
      'Ankle boot',
    ],
  },
  mnist: { shape: [1, 28, 28], classes: 10, classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] },
  cifar10: {
    shape: [3, 32, 32],
    classes: 10,
    classNames: ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'],
  },
};

// ---------------------------------------------------------------- threat

/** `linf`; other norms get a clear "unsupported" rather than "unknown". */
const norm: Reader<'linf'> = (e, what, bag) => {
  const text = e.kind === 'Ident' ? e.text : e.kind === 'StringLit' ? e.value : undefined;
  if (text === 'linf') return 'linf';
  if (text === undefined) {
    bag.report(Diag.WrongType, e.span, [what, 'linf', describeExpr(e)]);
    return undefined;
  }
  bag.report(Diag.UnsupportedNorm, e.span, [text], {
    help: [text.length > 2 ? didYouMean(text, ['linf']) : undefined],
  });
  return undefined;
};

/** The options of the threat block. */
export const threatSchema = {
  norm: valueOption('norm', norm, { default: 'linf' as const, doc: 'perturbation norm (L∞ only)' }),
  train_eps: valueOption('train_eps', anyNumber, {
    doc: 'ε used for training (raw input units, e.g. 8/255)',
  }),
  test_eps: valueOption('test_eps', listOf(anyNumber, 1, '[0.1]'), {
    optional: true,
    defaultText: '[train_eps]',
    doc: 'the ε values verification reports',
  }),
};

/** The threat block; ε must lie in [0, width of the input domain]. */
export function checkThreat(
  entries: readonly Entry[],
  anchor: Span,
  domain: readonly [number, number] | undefined,
  bag: DiagnosticBag,
): ThreatIR | undefined {
  const width = domain === undefined ? undefined : domain[1] - domain[0];
  const r = readOptions(entries, threatSchema, 'the threat block', anchor, bag);
  const v = r.values;
  const within = (eps: number, what: string, span: Span) => {
    if (eps >= 0 && (width === undefined || eps <= width)) return true;
    bag.report(Diag.EpsOutsideDomain, span, [what, String(eps), String(width ?? 'the domain width')], {
      help: [
        eps < 0 ? 'ε is a radius and cannot be negative' : 'ε is in raw input units, before normalisation',
      ],
    });
    return false;
  };
  const trainOk = v.train_eps !== undefined && within(v.train_eps, 'train_eps', r.valueSpans.train_eps!);
  const testOk = (v.test_eps ?? []).every((e) => within(e, 'each test_eps', r.valueSpans.test_eps!));
  if (!r.ok || !trainOk || !testOk) return undefined;
  return { norm: 'linf', trainEps: v.train_eps!, testEps: v.test_eps ?? [v.train_eps!] };
}

// ---------------------------------------------------------------- train

const optimizerArgs = [
  argSpec('lr', num(POSITIVE), { default: 5e-4, defaultText: '5e-4', doc: 'learning rate' }),
  argSpec('weight_decay', num(NON_NEGATIVE), { default: 0, doc: 'L2 weight decay' }),
];

type Optimizer = TrainRecipe['optimizer'];

/** `adam(lr: 1e-3, weight_decay: 0)` or `adam`. */
const optimizer: Reader<Optimizer> = (e, what, bag) => {
  const callee = e.kind === 'Call' ? e.callee : e.kind === 'Ident' ? e : undefined;
  if (callee === undefined) {
    bag.report(Diag.WrongType, e.span, [what, 'an optimizer like adam(lr: 1e-3)', describeExpr(e)]);
    return undefined;
  }
  if (callee.text !== 'adam') {
    bag.report(Diag.UnknownValue, callee.span, ['optimizer', callee.text], {
      help: [didYouMean(callee.text, ['adam']), 'vnet supports adam(lr: ..., weight_decay: ...)'],
    });
    return undefined;
  }
  const a = readArgs('adam', optimizerArgs, e.kind === 'Call' ? e.args : [], e.span, bag, 'adam(lr: 1e-3)');
  return a === undefined ? undefined : adam(a.values);
};

const adam = (args: ReadonlyMap<string, unknown>): Optimizer => ({
  kind: 'adam',
  lr: args.get('lr') as number,
  weightDecay: args.get('weight_decay') as number,
});

/** Strictly increasing epoch numbers. */
const milestones: Reader<number[]> = (e, what, bag) => {
  const v = listOf(num(EPOCH), 0, '[130, 190]')(e, what, bag);
  if (v === undefined) return undefined;
  if (v.some((m, i) => i > 0 && m <= v[i - 1]!)) {
    bag.report(Diag.OutOfRange, e.span, [what, 'increasing', `[${v.join(', ')}]`]);
    return undefined;
  }
  return v;
};

const shapeOption = (dflt: ScheduleShape) =>
  valueOption('shape', oneOf(SCHEDULE_SHAPES, 'schedule shape'), {
    default: dflt,
    doc: 'linear, or smoothed (quartic then linear, DeepMind/CROWN-IBP)',
  });

const epsScheduleSchema = {
  start: valueOption('start', num(EPOCH), { default: 10, doc: 'first epoch with ε > 0' }),
  length: valueOption('length', num(SIZE), {
    default: 51,
    doc: 'ε reaches train_eps at epoch start + length − 1',
  }),
  shape: shapeOption('linear'),
};

type EpsSchedule = TrainRecipe['epsSchedule'];
type EtaSchedule = NonNullable<TrainRecipe['etaSchedule']>;

const etaScheduleSchema = {
  from: valueOption('from', num(SLOPE), { default: 0.01, doc: 'η until `start`' }),
  to: valueOption('to', num(SLOPE), { default: 0, doc: 'η from epoch start + length − 1 on' }),
  start: valueOption('start', num(EPOCH), { default: 70, doc: 'first epoch of the change' }),
  length: valueOption('length', num(SIZE), { default: 71, doc: 'epochs the change takes' }),
  shape: shapeOption('smoothed'),
};

const regularizerSchema = {
  lambda: valueOption('lambda', num(NON_NEGATIVE), {
    default: 0.5,
    doc: 'λ₀: the terms weigh λ₀·(1 − ε/ε_max) during the ε ramp, nothing after it',
  }),
  tol: valueOption('tol', num({ min: 0, max: 1, minOpen: true }), {
    default: 0.5,
    doc: 'τ: tolerance of both terms',
  }),
  tightness: valueOption('tightness', bool, {
    default: true,
    doc: 'L_tightness: penalise interval growth beyond 1/τ per activation layer',
  }),
  relu: valueOption('relu', bool, {
    default: true,
    doc: 'L_relu: balance active and inactive neurons (mean and variance ratios of their centres)',
  }),
};

/** Arguments of the training attack of mtl_ibp and sabr. */
const attackArgs = (steps: number, step: number) => [
  argSpec('steps', num(SIZE), { default: steps, doc: 'PGD steps inside each training step' }),
  argSpec('step', num(POSITIVE), { default: step, doc: 'PGD step size, as a fraction of the current ε' }),
];
const lossArgs = {
  mtl_ibp: [
    argSpec('alpha', num(UNIT), { default: 0.5, doc: 'α: weight of the bound term' }),
    ...attackArgs(1, 1.25),
  ],
  sabr: [
    argSpec('lambda', num({ min: 0, max: 1, minOpen: true }), {
      default: 0.4,
      doc: 'λ: radius of the small box as a fraction of ε',
    }),
    ...attackArgs(8, 0.5),
  ],
} as const;
const LOSS_NAMES = ['robust', ...Object.keys(lossArgs)];

/** `robust`, `mtl_ibp(alpha: 0.5, steps: 1, step: 1.25)` or `sabr(lambda: 0.4, steps: 8, step: 0.5)`. */
const lossReader: Reader<TrainLossKind | 'robust'> = (e, what, bag) => {
  const callee = e.kind === 'Call' ? e.callee : e.kind === 'Ident' ? e : undefined;
  if (callee === undefined) {
    bag.report(Diag.WrongType, e.span, [
      what,
      'robust, mtl_ibp(alpha: ...) or sabr(lambda: ...)',
      describeExpr(e),
    ]);
    return undefined;
  }
  if (callee.text === 'robust' && e.kind === 'Ident') return 'robust';
  if (callee.text !== 'mtl_ibp' && callee.text !== 'sabr') {
    bag.report(Diag.UnknownValue, callee.span, ['loss', callee.text], {
      help: [didYouMean(callee.text, LOSS_NAMES), `the losses are: ${LOSS_NAMES.join(', ')}`],
    });
    return undefined;
  }
  const kind = callee.text;
  const a = readArgs(kind, lossArgs[kind], e.kind === 'Call' ? e.args : [], e.span, bag, `${kind}(...)`);
  if (a === undefined) return undefined;
  const attack = { steps: a.values.get('steps') as number, step: a.values.get('step') as number };
  return kind === 'mtl_ibp'
    ? { kind, alpha: a.values.get('alpha') as number, ...attack }
    : { kind, lambda: a.values.get('lambda') as number, ...attack };
};

/** The options of the train block. */
export const trainSchema = {
  dataset: valueOption('dataset', oneOf(DATASETS, 'dataset'), { doc: 'fashion-mnist, mnist or cifar10' }),
  epochs: valueOption('epochs', num(SIZE), { default: 200, doc: 'training epochs' }),
  batch_size: valueOption('batch_size', num(SIZE), { default: 256, doc: 'minibatch size' }),
  optimizer: valueOption('optimizer', optimizer, {
    default: adam(new Map(optimizerArgs.map((a) => [a.name, a.default]))),
    defaultText: `adam(${optimizerArgs.map((a) => `${a.name}: ${a.defaultText}`).join(', ')})`,
    doc: 'Adam with learning rate and weight decay',
  }),
  lr_milestones: valueOption('lr_milestones', milestones, {
    default: [130, 190],
    doc: 'epochs at which the learning rate is multiplied by lr_factor',
  }),
  lr_factor: valueOption('lr_factor', num({ min: 0, max: 1, minOpen: true }), {
    default: 0.1,
    doc: 'learning-rate decay factor',
  }),
  eps_schedule: blockOption(
    'eps_schedule',
    epsScheduleSchema,
    (v): EpsSchedule => ({ start: v.start!, length: v.length!, shape: v.shape! }),
    { doc: 'ε ramp from 0 to train_eps, per iteration' },
  ),
  method: valueOption('method', oneOf(TRAIN_METHODS, 'training method'), {
    default: 'ibp' as TrainMethod,
    doc: 'natural, ibp or crown-ibp',
  }),
  kappa: valueOption('kappa', rangeOf(UNIT), {
    default: [0, 0] as [number, number],
    defaultText: '0 -> 0',
    doc: 'κ in κ·CE(clean) + (1 − κ)·CE(robust), moving from a to b along the ε ramp',
  }),
  beta: valueOption('beta', rangeOf(UNIT), {
    default: [1, 0] as [number, number],
    defaultText: '1 -> 0',
    doc: 'crown-ibp training: margin bound (1 − β)·IBP + β·CROWN-IBP, β moving from a to b along the ε ramp',
  }),
  eta_schedule: blockOption(
    'eta_schedule',
    etaScheduleSchema,
    (v): EtaSchedule => ({ from: v.from!, to: v.to!, start: v.start!, length: v.length!, shape: v.shape! }),
    {
      optional: true,
      defaultText: 'none (η fixed)',
      doc: 'per-epoch slope η of every leaky_relu / paramramp: { from to start length shape }',
    },
  ),
  lines: valueOption('lines', oneOf(LINE_STRATEGIES, 'line strategy'), {
    default: 'adaptive' as LineStrategy,
    doc: 'bounding lines of CROWN-IBP training',
  }),
  seed: valueOption('seed', num({ integer: true, min: 0, max: 2 ** 32 - 1 }), {
    default: 2019,
    doc: 'seed of initialisation, shuffling and the validation split',
  }),
  val_split: valueOption('val_split', num({ min: 0, max: 1, minOpen: true, maxOpen: true }), {
    default: 0.1,
    doc: 'fraction of the training set held out for model selection',
  }),
  r_noise: valueOption('r_noise', num(NON_NEGATIVE), {
    default: 0,
    doc: 'relative std of Gaussian noise on ParamRamp r during training (paper: 0.01 for CIFAR)',
  }),
  init: valueOption('init', oneOf(['pytorch', 'ibp'] as const, 'initialisation'), {
    default: 'pytorch' as 'pytorch' | 'ibp',
    doc: "pytorch (PyTorch's default) or ibp (Shi et al. 2021: N(0, 2π/n_in²) for every weight but the last layer's)",
  }),
  regularizers: blockOption(
    'regularizers',
    regularizerSchema,
    (v): WarmupRegularizers => ({
      lambda: v.lambda!,
      tol: v.tol!,
      tightness: v.tightness!,
      relu: v.relu!,
    }),
    {
      optional: true,
      defaultText: 'none',
      doc: "Shi et al. 2021's warm-up regularisers: { lambda tol tightness relu }",
    },
  ),
  grad_clip: valueOption('grad_clip', num(POSITIVE), {
    optional: true,
    defaultText: 'none',
    doc: 'clip the global gradient norm to this value (Shi et al. 2021: 10)',
  }),
  loss: valueOption('loss', lossReader, {
    default: 'robust' as TrainLossKind | 'robust',
    doc: 'robust (CE of the bounds), mtl_ibp(alpha, steps, step) or sabr(lambda, steps, step)',
  }),
};

/** The train block, checked against what is known of the network (dataset shape, slopes). */
export function checkTrain(
  entries: readonly Entry[],
  anchor: Span,
  ctx: NetworkFacts,
  bag: DiagnosticBag,
): TrainRecipe | undefined {
  const r = readOptions(entries, trainSchema, 'the train block', anchor, bag);
  const v = r.values;
  if (v.dataset !== undefined) checkDataset(v.dataset, r.valueSpans.dataset!, ctx, bag);
  if (v.epochs !== undefined) {
    const eps = v.eps_schedule;
    if (eps !== undefined && eps.start + eps.length > v.epochs)
      bag.report(Diag.ScheduleExceedsEpochs, r.spans.eps_schedule ?? r.spans.epochs ?? anchor, [
        'eps schedule',
        eps.start + eps.length,
        v.epochs,
      ]);
    const eta = v.eta_schedule;
    if (eta !== undefined && eta.start + eta.length > v.epochs)
      bag.report(Diag.ScheduleExceedsEpochs, r.spans.eta_schedule!, [
        'eta schedule',
        eta.start + eta.length,
        v.epochs,
      ]);
  }
  if (v.eta_schedule !== undefined && ctx.slopes !== undefined)
    checkEta(v.eta_schedule, r.spans.eta_schedule!, ctx.slopes, bag);
  if (v.method === 'natural') {
    if (v.loss !== undefined && v.loss !== 'robust')
      bag.report(Diag.NaturalWithBoundTerms, r.valueSpans.loss!, [`loss = ${v.loss.kind}`], {
        help: ['set method = ibp (or crown-ibp), or remove the loss option'],
      });
    if (v.regularizers !== undefined)
      bag.report(Diag.NaturalWithBoundTerms, r.spans.regularizers!, ['the regularizers block'], {
        help: ['set method = ibp (or crown-ibp), or remove the regularizers block'],
      });
  }
  if (!r.ok) return undefined;
  return recipe(v);
}

function recipe(v: Values<typeof trainSchema>): TrainRecipe {
  return {
    dataset: v.dataset!,
    epochs: v.epochs!,
    batchSize: v.batch_size!,
    optimizer: v.optimizer!,
    lrMilestones: v.lr_milestones!,
    lrFactor: v.lr_factor!,
    epsSchedule: v.eps_schedule!,
    method: v.method!,
    kappa: v.kappa!,
    beta: v.beta!,
    ...(v.eta_schedule !== undefined ? { etaSchedule: v.eta_schedule } : {}),
    lines: v.lines!,
    seed: v.seed!,
    valSplit: v.val_split!,
    rNoise: v.r_noise!,
    // the newer options appear only when set, so older specs keep their recipe (and generated code)
    ...(v.init === 'ibp' ? { init: 'ibp' as const } : {}),
    ...(v.regularizers !== undefined ? { regularizers: v.regularizers } : {}),
    ...(v.grad_clip !== undefined ? { gradClip: v.grad_clip } : {}),
    ...(v.loss !== undefined && v.loss !== 'robust' ? { loss: v.loss } : {}),
  };
}

function checkDataset(dataset: DatasetName, at: Span, ctx: NetworkFacts, bag: DiagnosticBag): void {
  const info = DATASET_INFO[dataset];
  const flat = numel(info.shape);
  const input = ctx.input;
  if (input !== undefined) {
    const matches =
      (input.length === 3 && input.every((d, i) => d === info.shape[i])) ||
      (input.length === 1 && input[0] === flat);
    if (!matches)
      bag.report(Diag.DatasetInputMismatch, at, [dataset, info.shape.join('x'), input.join('x')], {
        help: [`set input = ${info.shape.join('x')} (or ${flat}) in the network block`],
        related: ctx.inputSpan ? [{ message: 'the input is declared', span: ctx.inputSpan }] : [],
      });
  }
  if (ctx.classes !== undefined && ctx.classes !== info.classes)
    bag.report(Diag.DatasetClassMismatch, at, [dataset, info.classes, ctx.classes]);
}

function checkEta(eta: EtaSchedule, at: Span, slopes: ReadonlyMap<string, number>, bag: DiagnosticBag): void {
  if (slopes.size === 0) {
    bag.report(Diag.EtaScheduleWithoutSlope, at, [], {
      help: ['remove eta_schedule, or use leaky_relu(η) / paramramp(η) activations'],
    });
    return;
  }
  for (const [layer, slope] of slopes)
    if (slope !== eta.from)
      bag.report(Diag.EtaScheduleMismatch, at, [eta.from, layer, slope], {
        help: [
          `the schedule overrides the layer's slope during training; write ${layer}'s slope as ${eta.from}`,
        ],
      });
}

// ---------------------------------------------------------------- verify

/** A list of distinct bound methods. */
const methods: Reader<BoundMethod[]> = (e, what, bag) => {
  const v = listOf(oneOf(BOUND_METHODS, 'bound method'), 1, '[ibp, crown-ibp]')(e, what, bag);
  if (v === undefined) return undefined;
  const dup = v.find((m, i) => v.indexOf(m) !== i);
  if (dup !== undefined) {
    const item = (e as Extract<Expr, { kind: 'ListExpr' }>).items[v.lastIndexOf(dup)]!;
    bag.report(Diag.DuplicateItem, item.span, [what, dup]);
    return undefined;
  }
  return v;
};

const pgdSchema = {
  steps: valueOption('steps', num(SIZE), { default: 200, doc: 'PGD iterations' }),
  restarts: valueOption('restarts', num(SIZE), {
    default: 10,
    doc: 'random restarts (broken if any succeeds)',
  }),
  step_size: valueOption('step_size', num(POSITIVE), { default: 0.01, doc: 'step size (raw input units)' }),
};

type Pgd = VerifyConfig['pgd'];

/** The options of the verify block. */
export const verifySchema = {
  methods: valueOption('methods', methods, {
    default: ['ibp', 'crown-ibp', 'lbp', 'crown-lbp'] as BoundMethod[],
    doc: 'bound methods to report: ibp, crown-ibp, lbp, crown-lbp, crown',
  }),
  lines: valueOption('lines', oneOf(LINE_STRATEGIES, 'line strategy'), {
    default: 'tight' as LineStrategy,
    doc: 'bounding lines: tight, adaptive or constant',
  }),
  pgd: blockOption(
    'pgd',
    pgdSchema,
    (v): Pgd => ({ steps: v.steps!, restarts: v.restarts!, stepSize: v.step_size! }),
    {
      doc: 'the PGD attack that gives the empirical (upper-bound) error',
    },
  ),
};

/** The verify block, or the defaults when the spec has none (`entries` undefined). */
export function checkVerify(
  entries: readonly Entry[] | undefined,
  anchor: Span,
  bag: DiagnosticBag,
): VerifyConfig | undefined {
  const r = readOptions(entries ?? [], verifySchema, 'the verify block', anchor, bag);
  if (!r.ok) return undefined;
  return { methods: r.values.methods!, lines: r.values.lines!, pgd: r.values.pgd! };
}
