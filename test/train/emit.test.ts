/**
 * The emitted training section: its shape per training method (natural / IBP / CROWN-IBP, with
 * and without ParamRamp), that numbers and strings cannot inject code, and that a whole generated
 * module with it type-checks against the runtime (and satisfies `TrainProgram`).
 */
import { resolve } from 'node:path';
import { Project, ts } from 'ts-morph';
import { describe, expect, it } from 'vitest';
import { emitModule } from '../../src/codegen/emit-module.js';
import { emitTrainSection } from '../../src/codegen/emit-train.js';
import type { ModelIR } from '../../src/ir/ir.js';
import { checkSource } from '../../src/semantics/index.js';
import { TINY_SPEC } from './tiny.js';

function model(text: string, name: string): ModelIR {
  const { model: m, diagnostics } = checkSource(`specs/${name}.vnet`, text);
  if (!m) throw new Error(diagnostics.map((d) => d.message).join('\n'));
  return m;
}

const tiny = model(TINY_SPEC, 'tiny-ramp');
const natural = model(
  TINY_SPEC.replace('method     = crown-ibp', 'method     = natural')
    .replace(/\n\s*eta_schedule[^\n]*/, '')
    .replace(/paramramp\(0\.01\)/, 'relu'),
  'tiny-natural',
);
const ibpRelu = model(
  TINY_SPEC.replace('method     = crown-ibp', 'method     = ibp')
    .replace(/\n\s*eta_schedule[^\n]*/, '')
    .replace(/paramramp\(0\.01\)/, 'relu'),
  'tiny-ibp',
);

describe('emitTrainSection', () => {
  it('writes the recipe as literals and the CROWN-IBP loss with the β mix', () => {
    const s = emitTrainSection(tiny);
    expect(s).toContain('export const recipe: rt.TrainConstants = {');
    expect(s).toContain('  kappa: [1, 0.5], // κ at ε = 0 and at ε_max');
    expect(s).toContain('etaSchedule: { from: 0.01, to: 0, start: 1, length: 2, shape: "smoothed" }');
    // one CROWN-IBP pass while β matters; its base holds the IBP margins of the same sweep
    expect(s).toContain('const b = st.beta >= rt.CROWN_BETA_MIN ? crownIbp(p, box, o) : ibp(p, box, o);');
    expect(s).toContain('rt.betaMix(b.base.lower, b.lower, st.beta)');
    expect(s).toContain('st.beta >= rt.CROWN_BETA_MIN');
    expect(s).toContain('lines: "adaptive", lowerOnly: true');
    expect(s).toContain('return rt.naturalLoss(forward(p, x, { eta: st.eta, rampAsLeaky: true }), y);');
    expect(s).toContain('if (epoch === cleanEpochs) initRamps(run, schedule(epoch, 0, n, r).eta);');
    expect(s).toContain('rt.resetRamp(run.params.paramramp1_r, mean["paramramp1"]!);');
  });

  it('IBP with ReLU: no β mix, no r re-initialisation', () => {
    const s = emitTrainSection(ibpRelu);
    expect(s).toContain('return rt.certifiedLoss(b.logits, y, b.lower, st.kappa);');
    expect(s).not.toContain('crownIbp');
    expect(s).not.toContain('initRamps');
    expect(s).toContain('return rt.naturalLoss(forward(p, x, { eta: st.eta }), y);');
  });

  it('natural training: plain cross-entropy, no clean phase', () => {
    const s = emitTrainSection(natural);
    expect(s).toContain(
      'return rt.naturalLoss(forward(p, x, { eta: st.eta, rNoise: st.rNoise, noiseSeed: st.noiseSeed }), y);',
    );
    expect(s).not.toContain('cleanEpochs');
    expect(s).toContain('run.step(batch, schedule(epoch, batch.step, n, r), false, trainLoss)');
  });

  it('rejects non-finite numbers instead of emitting them', () => {
    const bad: ModelIR = { ...tiny, train: { ...tiny.train!, lrFactor: Number.NaN } };
    expect(() => emitTrainSection(bad)).toThrow(/non-finite/);
  });

  it('the training section of a generated module type-checks and satisfies TrainProgram', async () => {
    // Only diagnostics inside the training section (and the TrainProgram check appended after it)
    // count here; the rest of the module is the code generator's, covered by its golden tests.
    const root = resolve(import.meta.dirname, '..', '..');
    const project = new Project({
      tsConfigFilePath: resolve(root, 'tsconfig.json'),
      skipAddingFilesFromTsConfig: true,
    });
    const problems: string[] = [];
    for (const m of [tiny, natural, ibpRelu]) {
      await new Promise((res) => setTimeout(res, 0)); // let the worker answer vitest between type checks
      const text =
        emitModule(m, { runtimeImport: '../src/runtime/index.js' }) +
        "import type { TrainProgram } from '../src/runtime/module.js';\n" +
        'export const trainProgram: TrainProgram = { recipe, schedule, trainLoss, train };\n';
      const first = text.slice(0, text.indexOf('// Training: method')).split('\n').length;
      const f = project.createSourceFile(
        resolve(root, 'generated', `__train_check_${m.moduleName}.ts`),
        text,
        {
          overwrite: true,
        },
      );
      for (const d of f.getPreEmitDiagnostics()) {
        const line = d.getLineNumber() ?? 0;
        if (line >= first)
          problems.push(
            `${m.moduleName}:${line}: ${ts.flattenDiagnosticMessageText(d.compilerObject.messageText, ' ')}`,
          );
      }
    }
    expect(problems).toEqual([]);
  }, 300_000);
});
