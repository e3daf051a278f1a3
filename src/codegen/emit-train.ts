/**
 * Emits the training section of a generated module (appended at module level by emit-module.ts;
 * nothing for a spec without a `train` block):
 * the spec's resolved recipe as a constant, its schedules, the loss of its training method written
 * out for that method (natural, IBP or CROWN-IBP, with the κ and β mixes of paper-notes §5), and
 * the epoch loop (clean phase with ParamRamp as LeakyReLU(η), r re-initialisation from the mean
 * activation, then the ε ramp). The section refers to the module's own `meta`, `Params`,
 * `forward`, `activations`, `ibp` and `crownIbp`, and to the runtime as `rt` (contract in
 * src/runtime/train/types.ts; the run itself is src/runtime/train/run.ts).
 *
 * Nothing from the spec is spliced as text: numbers go through `num` (finite, exact), strings
 * through codeString, identifiers are the checker's validated `ident`s.
 */
import type { Layer, ModelIR, ThreatIR, TrainRecipe } from '../ir/ir.js';
import { codeString, num } from './describe.js';

/** A model with both a `train` and a `threat` block (what the training section is emitted for). */
type TrainedIR = ModelIR & { readonly train: TrainRecipe; readonly threat: ThreatIR };

/** A TypeScript literal of plain data: numbers via `num`, strings via codeString. */
function lit(v: unknown): string {
  if (typeof v === 'number') return num(v);
  if (typeof v === 'string') return codeString(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(lit).join(', ')}]`;
  if (v !== null && typeof v === 'object') {
    const fields = Object.entries(v).filter(([, x]) => x !== undefined);
    return `{ ${fields.map(([k, x]) => `${k}: ${lit(x)}`).join(', ')} }`;
  }
  throw new Error(`internal: cannot emit ${String(v)} as a literal`);
}

/** The `recipe` constant: every field of the resolved recipe, one per line, in a fixed order. */
function recipeConstant(m: TrainedIR): string {
  const t: TrainRecipe = m.train;
  const target = m.threat.testEps.length ? Math.max(...m.threat.testEps) : m.threat.trainEps;
  const fields: [string, unknown, string][] = [
    ['dataset', t.dataset, ''],
    ['epochs', t.epochs, ''],
    ['batchSize', t.batchSize, ''],
    ['optimizer', { kind: t.optimizer.kind, lr: t.optimizer.lr, weightDecay: t.optimizer.weightDecay }, ''],
    ['lrMilestones', t.lrMilestones, 'MultiStepLR, stepped per epoch'],
    ['lrFactor', t.lrFactor, ''],
    ['trainEps', m.threat.trainEps, 'ε_max of the ramp (threat.train_eps)'],
    ['targetEps', target, 'model selection: largest test ε'],
    [
      'epsSchedule',
      { start: t.epsSchedule.start, length: t.epsSchedule.length, shape: t.epsSchedule.shape },
      'per iteration',
    ],
    ['method', t.method, ''],
    ['kappa', t.kappa, 'κ at ε = 0 and at ε_max'],
    ['beta', t.beta, 'β at ε = 0 and at ε_max'],
  ];
  if (t.etaSchedule) {
    const e = t.etaSchedule;
    fields.push([
      'etaSchedule',
      { from: e.from, to: e.to, start: e.start, length: e.length, shape: e.shape },
      'η per epoch',
    ]);
  }
  fields.push(
    ['lines', t.lines, 'bounding lines of the training bounds'],
    ['seed', t.seed, ''],
    ['valSplit', t.valSplit, 'held out from the training set'],
    ['rNoise', t.rNoise, 'relative std of the noise on r'],
  );
  // the newer recipe parts, only when the spec sets them (older specs keep their generated code)
  if (t.init) fields.push(['init', t.init, 'Shi et al. 2021 IBP initialisation']);
  if (t.regularizers) fields.push(['regularizers', t.regularizers, 'Shi et al. 2021 warm-up regularisers']);
  if (t.gradClip !== undefined) fields.push(['gradClip', t.gradClip, 'global gradient-norm clip']);
  if (t.loss) fields.push(['loss', t.loss, '']);
  const body = fields.map(([k, v, c]) => `  ${k}: ${lit(v)},${c ? ` // ${c}` : ''}`);
  return [
    `/** The training recipe of \`${m.name}\` (its train and threat blocks, resolved by the checker). */`,
    'export const recipe: rt.TrainConstants = {',
    ...body,
    '};',
  ].join('\n');
}

const SCHEDULE = `/**
 * Schedule values at iteration \`step\` of \`epoch\` (paper-notes §5): ε ramps per iteration, κ and β
 * follow the current ε, η and the learning rate change per epoch. \`r\` defaults to this spec's recipe.
 */
export function schedule(epoch: number, step: number, stepsPerEpoch: number, r: rt.TrainConstants = recipe): rt.Schedule {
  const eps = rt.epsAt(r.epsSchedule, r.trainEps, epoch, step, stepsPerEpoch);
  return {
    eps,
    kappa: rt.tiedToEps(eps, r.trainEps, r.kappa),
    beta: rt.tiedToEps(eps, r.trainEps, r.beta),
    eta: r.etaSchedule ? rt.etaAt(r.etaSchedule, epoch) : undefined,
    lr: rt.lrAt(r.optimizer.lr, r.lrMilestones, r.lrFactor, epoch),
  };
}`;

/** The bound options of a certified step: CROWN-IBP adds its lines and lowerOnly; `extra` ends the object. */
function boundOptionsLine(t: TrainRecipe, extra: string): string {
  const crown = t.method === 'crown-ibp' ? `, lines: ${codeString(t.lines)}, lowerOnly: true` : '';
  return `  const o: rt.BoundOptions = { labels: y, eta: st.eta, rNoise: st.rNoise, noiseSeed: st.noiseSeed${crown}${extra} };`;
}

/** The loss function, written out for the spec's method. */
function lossFunction(m: TrainedIR, hasRamp: boolean): string {
  // BatchNorm trains on batch statistics (and updates its running statistics once per step)
  const bn = m.layers.some((l) => l.op.kind === 'batchnorm') ? ', bnTrain: true' : '';
  const head =
    'export function trainLoss(p: Params, x: tf.Tensor, y: tf.Tensor1D, st: rt.StepState): rt.LossParts {';
  if (m.train.method === 'natural') {
    return [
      '/** Natural training: cross-entropy of the clean logits. */',
      head,
      `  return rt.naturalLoss(forward(p, x, { eta: st.eta, rNoise: st.rNoise, noiseSeed: st.noiseSeed${bn} }), y);`,
      '}',
    ].join('\n');
  }
  const crown = m.train.method === 'crown-ibp';
  const doc = crown
    ? [
        '/**',
        ' * CROWN-IBP training (paper Eq. 5): κ·CE(z, y) + (1 − κ)·CE(−lb, y) with',
        ' * lb = (1 − β)·lb_IBP + β·lb_CROWN-IBP; IBP only once β < 1e-5. Natural CE in the clean phase.',
        ' */',
      ]
    : [
        '/** IBP training (paper Eq. 5): κ·CE(z, y) + (1 − κ)·CE(−lb_IBP, y). Natural CE in the clean phase. */',
      ];
  const cleanOpts = hasRamp ? `{ eta: st.eta, rampAsLeaky: true${bn} }` : `{ eta: st.eta${bn} }`;
  const t = m.train;
  if (t.loss || t.regularizers) return newerLoss(m, doc, head, cleanOpts, bn);
  const lines = [
    ...doc,
    head,
    '  if (st.clean) {',
    `    // clean phase (end-of-epoch ε = 0): plain cross-entropy, no bounds${hasRamp ? ', ParamRamp as LeakyReLU(η)' : ''}`,
    `    return rt.naturalLoss(forward(p, x, ${cleanOpts}), y);`,
    '  }',
    '  const box = rt.inputBox(x, st.eps, meta.inputCfg);',
    boundOptionsLine(m.train, bn),
  ];
  if (crown) {
    lines.push(
      '  // while β matters, one CROWN-IBP pass: it carries the IBP margins of the same sweep (b.base)',
      '  const b = st.beta >= rt.CROWN_BETA_MIN ? crownIbp(p, box, o) : ibp(p, box, o);',
      '  const lb = b.base ? rt.betaMix(b.base.lower, b.lower, st.beta) : b.lower;',
      '  return rt.certifiedLoss(b.logits, y, lb, st.kappa);',
    );
  } else {
    lines.push(
      '  const b = ibp(p, box, o); // margin lower bounds [B, K−1] and the clean logits of the same pass',
      '  return rt.certifiedLoss(b.logits, y, b.lower, st.kappa);',
    );
  }
  lines.push('}');
  return lines.join('\n');
}

/**
 * The loss of a recipe with an attack-based loss (mtl_ibp, sabr) or Shi et al.'s warm-up
 * regularisers: the same certified step with the box, the bound options and the final mix
 * written out for the recipe (docs/training.md).
 */
function newerLoss(
  m: TrainedIR,
  doc: readonly string[],
  head: string,
  cleanOpts: string,
  bn: string,
): string {
  const t = m.train;
  const crown = t.method === 'crown-ibp';
  const loss = t.loss;
  const regs = t.regularizers;
  const extra: string[] = [];
  if (loss?.kind === 'mtl_ibp')
    extra.push(
      ` * Loss: MTL-IBP, (1 − α)·CE(f(x_adv)) + α·CE(−lb) with α = ${num(loss.alpha)} (De Palma et al. 2024).`,
    );
  if (loss?.kind === 'sabr')
    extra.push(
      ` * Loss: SABR, the bounds of the small box B(x_adv, λε) with λ = ${num(loss.lambda)} (Müller et al. 2023).`,
    );
  if (regs)
    extra.push(' * Shi et al. 2021 warm-up regularisers, weighted λ₀·(1 − ε/ε_max) during the ε ramp.');
  const body = doc.length === 1 ? [` * ${doc[0]!.replace(/^\/\*\* | \*\/$/g, '')}`] : doc.slice(1, -1);
  const docs = ['/**', ...body, ...extra, ' */'];
  const head2 = head.replace('st: rt.StepState)', 'st: rt.StepState, adv?: tf.Tensor)');
  const lit = (v: object) =>
    `{ ${Object.entries(v)
      .map(([k, x]) => `${k}: ${typeof x === 'number' ? num(x) : String(x)}`)
      .join(', ')} }`;
  const out = [...docs, head2, '  if (st.clean) return rt.naturalLoss(forward(p, x, ' + cleanOpts + '), y);'];
  if (loss)
    out.push("  if (adv === undefined) throw new Error('internal: the training attack did not run');");
  out.push(
    loss?.kind === 'sabr'
      ? `  const box = rt.sabrBox(x, adv, st.eps, ${num(loss.lambda)}, meta.inputCfg);`
      : '  const box = rt.inputBox(x, st.eps, meta.inputCfg);',
  );
  if (regs)
    out.push(`  const regs = ${lit(regs)};`, '  const wReg = rt.warmupWeight(regs, st.eps, st.trainEps);');
  const inter = regs ? ', intermediate: wReg > 0' : '';
  out.push(boundOptionsLine(t, bn + inter));
  if (crown)
    out.push(
      '  const b = st.beta >= rt.CROWN_BETA_MIN ? crownIbp(p, box, o) : ibp(p, box, o);',
      '  const lb = b.base ? rt.betaMix(b.base.lower, b.lower, st.beta) : b.lower;',
    );
  else out.push('  const b = ibp(p, box, o);', '  const lb = b.lower;');
  if (loss?.kind === 'mtl_ibp') {
    const frozen = bn ? ', bnTrain: true, bnFrozen: true' : '';
    out.push(
      `  const za = forward(p, adv, { eta: st.eta, rNoise: st.rNoise, noiseSeed: st.noiseSeed${frozen} });`,
      `  const parts = rt.mtlIbpLoss(b.logits, za, y, lb, ${num(loss.alpha)}, st.kappa);`,
    );
  } else out.push('  const parts = rt.certifiedLoss(b.logits, y, lb, st.kappa);');
  out.push(
    regs
      ? '  return wReg > 0 ? rt.withRegularizer(parts, rt.warmupRegularizer(box, b.intermediate ?? [], regs), wReg) : parts;'
      : '  return parts;',
    '}',
  );
  if (loss) {
    const frozen = bn ? ', bnTrain: true, bnFrozen: true' : '';
    out.push(
      '',
      `/** The attack of a training step: PGD, ${num(loss.steps)} step(s) of ${num(loss.step)}·ε from a random start${bn ? ' (BatchNorm on batch statistics, running statistics untouched)' : ''}. */`,
      'export function trainAttack(p: Params, x: tf.Tensor, y: tf.Tensor1D, st: rt.StepState): tf.Tensor {',
      `  const logitsOf = (z: tf.Tensor) => forward(p, z, { eta: st.eta, rNoise: st.rNoise, noiseSeed: st.noiseSeed${frozen} });`,
      `  return rt.trainPgd(logitsOf, x, y, st.eps, meta.inputCfg, { steps: ${num(loss.steps)}, step: ${num(loss.step)}, seed: st.noiseSeed });`,
      '}',
    );
  }
  return out.join('\n');
}

/** The epoch loop, and for ParamRamp networks the r re-initialisation it calls. */
function trainFunction(m: TrainedIR, ramps: readonly Layer[]): string {
  const natural = m.train.method === 'natural';
  const doc = natural
    ? ['/** The epoch loop of natural training (resumes at run.startEpoch). */']
    : [
        '/**',
        ' * The epoch loop (paper-notes §5, §10): epochs whose end-of-epoch ε is 0 are clean (natural loss,',
        ...(ramps.length
          ? [
              ' * no bounds, ParamRamp as LeakyReLU(η), r frozen); the first certified epoch starts by setting r',
              ' * to the mean activation; then the ε ramp. Resumes at run.startEpoch.',
            ]
          : [' * no bounds); then the ε ramp. Resumes at run.startEpoch.']),
        ' */',
      ];
  const out = [
    ...doc,
    'export async function train(run: rt.TrainRun<Params>): Promise<void> {',
    '  const r = run.recipe;',
    '  const n = run.stepsPerEpoch;',
  ];
  if (!natural) out.push('  const cleanEpochs = rt.cleanEpochs(r.epsSchedule, r.trainEps, n, r.epochs);');
  out.push('  for (let epoch = run.startEpoch; epoch < r.epochs; epoch++) {');
  if (!natural) out.push('    const clean = epoch < cleanEpochs;');
  if (ramps.length && !natural)
    out.push('    if (epoch === cleanEpochs) initRamps(run, schedule(epoch, 0, n, r).eta);');
  const clean = natural ? 'false' : 'clean';
  const attack = m.train.loss && !natural ? ', trainAttack' : '';
  out.push(
    `    for (const batch of run.batches(epoch)) run.step(batch, schedule(epoch, batch.step, n, r), ${clean}, trainLoss${attack});`,
    `    await run.endEpoch(epoch, ${clean}, schedule(epoch, n, n, r));`,
    '  }',
    '}',
  );
  if (ramps.length && !natural) {
    out.push(
      '',
      '/** End of the clean phase: r ← per-neuron mean of the LeakyReLU(η) outputs over the training split, ≥ 1e-4. */',
      'function initRamps(run: rt.TrainRun<Params>, eta: number | undefined): void {',
      '  const mean = run.meanOverTrainSet((x) => activations(run.params, x, { eta, rampAsLeaky: true }).acts);',
    );
    for (const l of ramps) {
      const r = l.params.find((p) => p.role === 'ramp.r');
      if (!r) throw new Error(`internal: ParamRamp layer '${l.name}' has no r parameter`);
      out.push(`  rt.resetRamp(run.params.${r.ident}, mean[${codeString(l.name)}]!);`);
    }
    out.push('  tf.dispose(Object.values(mean));', '}');
  }
  return out.join('\n');
}

/**
 * TypeScript source of the training section of `m`'s generated module: exports `recipe`,
 * `schedule`, `trainLoss` and `train` (the `TrainProgram` part of `GeneratedModule`).
 */
export function emitTrainSection(model: ModelIR): string {
  if (model.train === undefined || model.threat === undefined) return ''; // no recipe: no trainer
  const m = model as TrainedIR;
  const ramps = m.layers.filter((l) => l.op.kind === 'paramramp');
  return [
    `// Training: method ${codeString(m.train.method)} (paper-notes §5); run by \`vnet train\`.`,
    '',
    recipeConstant(m),
    '',
    SCHEDULE,
    '',
    lossFunction(m, ramps.length > 0),
    '',
    trainFunction(m, ramps),
    '',
  ].join('\n');
}
