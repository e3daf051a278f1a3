/**
 * The resume contract (issue 17 items 6 and 7): epochs are counted from 1 in every file; a run
 * stopped while saving an epoch (metrics line written, state not yet) resumes and says so; a
 * damaged or old state file is one short message with the command that starts over; recipe.json
 * keeps the command that started the run; a different number of epochs is announced, fewer than
 * are done is refused; and every resumed run ends with the uninterrupted run's files.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, truncateSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/base/errors.js';
import { readSafetensors, writeSafetensors } from '../../src/runtime/io/safetensors.js';
import type { GeneratedModule } from '../../src/runtime/module.js';
import { RunDir, type EpochRecord } from '../../src/runtime/train/rundir.js';
import { TrainSession, trainCommandLine } from '../../src/runtime/train/run.js';
import type { TrainConstants } from '../../src/runtime/train/types.js';
import { useCpu } from './helpers.js';
import { compileTiny, syntheticData } from './tiny.js';

const data = syntheticData(80);
let mod: GeneratedModule;
/** The reference: 3 epochs uninterrupted. */
let ref: string;

beforeAll(async () => {
  await useCpu();
  mod = await compileTiny();
  ref = newDir();
  await trainTo(ref, recipe(3));
});

const newDir = (): string => mkdtempSync(join(tmpdir(), 'vnet-resume-'));
const recipe = (epochs: number): TrainConstants => ({ ...mod.recipe!, epochs });

interface Opened {
  session: TrainSession;
  log: string;
}

function open(
  dir: string,
  r: TrainConstants,
  o: { resume?: boolean; argv?: readonly string[]; record?: Record<string, unknown> } = {},
): Opened {
  let log = '';
  const session = TrainSession.open({
    module: mod,
    recipe: r,
    data,
    outDir: dir,
    resume: o.resume ?? false,
    stream: { write: (s: string) => ((log += s), true), isTTY: false },
    ...(o.argv ? { commandArgv: o.argv } : {}),
    ...(o.record ? { record: o.record } : {}),
  });
  return { session, log };
}

async function trainTo(dir: string, r: TrainConstants, o: Parameters<typeof open>[2] = {}): Promise<string> {
  const { session, log } = open(dir, r, o);
  await mod.train!(session);
  session.dispose();
  return log;
}

/** The error `f` throws (a UserError), or fails. */
function userError(f: () => unknown): UserError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return e as UserError;
  }
  throw new Error('expected a UserError');
}

const withoutTime = (ms: readonly EpochRecord[]): Omit<EpochRecord, 'seconds'>[] =>
  ms.map(({ seconds: _s, ...rest }) => rest);

/** The run in `dir` has exactly the reference's state, checkpoints and metrics. */
function expectSameAsReference(dir: string): void {
  const a = readSafetensors(join(ref, 'state.safetensors'));
  const b = readSafetensors(join(dir, 'state.safetensors'));
  expect(b.metadata).toEqual(a.metadata);
  for (const [name, t] of a.tensors)
    expect(Array.from(b.tensors.get(name)!.data), name).toEqual(Array.from(t.data));
  for (const f of ['last.safetensors', 'best.safetensors'])
    expect(readFileSync(join(dir, f)).equals(readFileSync(join(ref, f))), f).toBe(true);
  expect(withoutTime(new RunDir(dir).readMetrics())).toEqual(withoutTime(new RunDir(ref).readMetrics()));
}

const json = (path: string): Record<string, unknown> =>
  JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

describe('epochs are counted from 1 in every file of a run', () => {
  it('metrics, sidecars, checkpoint metadata and the state name epochs 1..3', () => {
    const rd = new RunDir(ref);
    expect(rd.readMetrics().map((m) => m.epoch)).toEqual([1, 2, 3]);
    expect(rd.readMetrics().map((m) => m.best)).toEqual([false, false, true]);
    expect(json(rd.sidecarPath('last'))['epoch']).toBe(3);
    expect(json(rd.sidecarPath('best'))['epoch']).toBe(3);
    expect((json(rd.sidecarPath('best'))['metrics'] as EpochRecord).epoch).toBe(3);
    expect(readSafetensors(rd.paramsPath('last')).metadata['epoch']).toBe('3');
    const st = rd.readState()!;
    expect(st.epoch).toBe(3);
    expect(st.best?.epoch).toBe(3);
  });
});

describe('resume', () => {
  it('after a stop while epoch 1 was being saved (metrics line, no state): says so and ends as the reference', async () => {
    const dir = newDir();
    await trainTo(dir, recipe(1));
    rmSync(join(dir, 'state.safetensors')); // stopped between the metrics line and the state
    expect(new RunDir(dir).readMetrics()).toHaveLength(1);
    const log = await trainTo(dir, recipe(3), { resume: true });
    expect(log).toContain(
      'from epoch 1 (no epoch was completely saved: epoch 1 was being saved when the run stopped)',
    );
    expect(log).not.toMatch(/no epoch had completed/);
    expectSameAsReference(dir);
  });

  it('after a stop while epoch 2 was being saved: resumes after epoch 1 and re-runs epoch 2', async () => {
    const dir = newDir();
    await trainTo(dir, recipe(1));
    const state1 = join(dir, 'state-1.safetensors');
    copyFileSync(join(dir, 'state.safetensors'), state1);
    await trainTo(dir, recipe(2), { resume: true });
    copyFileSync(state1, join(dir, 'state.safetensors')); // epoch 2's metrics line, epoch 1's state
    rmSync(state1);
    expect(new RunDir(dir).readMetrics()).toHaveLength(2);
    const log = await trainTo(dir, recipe(3), { resume: true });
    expect(log).toContain('after epoch 1 of 3; epoch 2 was being saved when the run stopped and runs again');
    expectSameAsReference(dir);
  });

  it('a truncated state file: one line naming the file, and the command that starts over', async () => {
    const dir = newDir();
    await trainTo(dir, recipe(1));
    const st = join(dir, 'state.safetensors');
    truncateSync(st, Math.floor(statSync(st).size / 2));
    const e = userError(() =>
      open(dir, recipe(1), { resume: true, argv: ['tiny.vnet', '--epochs', '1', '--resume'] }),
    );
    expect(e.message).not.toContain('\n');
    expect(e.message).toMatch(
      /^cannot resume the run in .*: .*state\.safetensors is damaged \(\d+ problems; the first: /,
    );
    expect(e.message.length).toBeLessThan(300);
    expect(e.help[0]).toMatch(/^start over: (npx )?vnet train tiny\.vnet --epochs 1 --force$/);
    expect(e.help.join('\n')).toContain('--out DIR');
    // cut inside the header: the same form
    truncateSync(st, 300);
    const h = userError(() => open(dir, recipe(1), { resume: true }));
    expect(h.message).toMatch(/state\.safetensors is damaged \(header length \d+ exceeds .*\)$/);
    expect(h.message).not.toContain('\n');
  });

  it('a state file of the old 0-based format is refused with the same hint', async () => {
    const dir = newDir();
    await trainTo(dir, recipe(1));
    const st = join(dir, 'state.safetensors');
    const d = readSafetensors(st);
    const header = JSON.parse(d.metadata['vnet_train_state']!) as Record<string, unknown>;
    writeSafetensors(
      st,
      [...d.tensors].map(([name, t]) => ({ name, shape: t.shape, data: t.data })),
      { vnet_train_state: JSON.stringify({ ...header, format: 'vnet-train-state/1', epoch: 0 }) },
    );
    const e = userError(() => open(dir, recipe(1), { resume: true }));
    expect(e.message).toMatch(/state\.safetensors was written by an older vnet \(it counts epochs from 0\)$/);
    expect(e.help[0]).toBe('start over: the same command with --force');
  });

  it('recipe.json keeps the command that started the run; the hint of a refused resume shows it', async () => {
    const dir = newDir();
    const first = ['tiny.vnet', '--epochs', '1', '--out', dir];
    await trainTo(dir, recipe(1), {
      argv: first,
      record: { command: `vnet train ${first.join(' ')}`, argv: first },
    });
    const later = ['tiny.vnet', '--epochs', '2', '--out', dir, '--resume'];
    await trainTo(dir, recipe(2), {
      resume: true,
      argv: later,
      record: { command: `vnet train ${later.join(' ')}`, argv: later },
    });
    const rec = json(join(dir, 'recipe.json'));
    expect(rec['command']).toBe(`vnet train ${first.join(' ')}`);
    expect((rec['recipe'] as TrainConstants).epochs).toBe(2);
    expect(rec['resumes']).toEqual([
      { afterEpoch: 1, command: `vnet train ${later.join(' ')}`, argv: later },
    ]);
    const e = userError(() =>
      open(dir, { ...recipe(2), seed: 8 }, { resume: true, argv: ['tiny.vnet', '--seed', '8', '--resume'] }),
    );
    expect(e.message).toMatch(/^cannot resume the run in .*: recipe\.seed was 7, now 8$/);
    expect(e.help[0]).toBe(`it was started with: vnet train ${first.join(' ')}`);
    expect(e.help[1]).toMatch(
      new RegExp(`^resume it with: (npx )?vnet train tiny\\.vnet --epochs 1 --out ${dir} --resume$`),
    );
  });

  it('a different number of epochs is announced; fewer than are done is refused', async () => {
    const dir = newDir();
    await trainTo(dir, recipe(2));
    const e = userError(() =>
      open(dir, recipe(1), { resume: true, argv: ['tiny.vnet', '--epochs', '1', '--resume'] }),
    );
    expect(e.message).toMatch(/with 1 epochs: it has already completed 2$/);
    expect(e.help[0]).toMatch(/^resume it with: (npx )?vnet train tiny\.vnet --resume$/);
    expect(new RunDir(dir).recordedEpochs()).toBe(2);
    const log = await trainTo(dir, recipe(3), { resume: true });
    expect(log).toContain('the run now has 3 epochs instead of 2 (--epochs)');
    expect(log).toContain('after epoch 2 of 3');
    expect(new RunDir(dir).recordedEpochs()).toBe(3);
    expectSameAsReference(dir);
  });

  it('the refusal to overwrite a run gives the commands to continue or start over', async () => {
    const dir = newDir();
    await trainTo(dir, recipe(1));
    const e = userError(() => open(dir, recipe(1), { argv: ['a b.vnet', '--quick'] }));
    expect(e.message).toMatch(/already holds a training run \(1 epoch done\)$/);
    expect(e.help[0]).toMatch(/^continue it: (npx )?vnet train 'a b\.vnet' --quick --resume$/);
    expect(e.help[1]).toMatch(/^or start over: (npx )?vnet train 'a b\.vnet' --quick --force$/);
  });

  it('trainCommandLine quotes words and drops --resume/--force', () => {
    expect(trainCommandLine(["it's.vnet", '--force', '--out', 'x y'], '--resume')).toMatch(
      /^(npx )?vnet train 'it'\\''s\.vnet' --out 'x y' --resume$/,
    );
    expect(trainCommandLine(undefined, '--force')).toBe('the same command with --force');
  });
});

describe('a natural recipe with ParamRamp', () => {
  it('trains (its generated loop has no clean phase and no r re-initialisation)', async () => {
    const { TINY_SPEC } = await import('./tiny.js');
    const natural = await compileTiny(
      TINY_SPEC.replace('method     = crown-ibp', 'method     = natural'),
      'tiny-natural',
    );
    const dir = newDir();
    const s = TrainSession.open({
      module: natural,
      recipe: { ...natural.recipe!, epochs: 1 },
      data,
      outDir: dir,
      stream: { write: () => true, isTTY: false },
    });
    await natural.train!(s);
    s.dispose();
    expect(new RunDir(dir).readMetrics().map((m) => [m.epoch, m.phase])).toEqual([[1, 'natural']]);
  });
});
