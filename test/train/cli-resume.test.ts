/**
 * `vnet train --resume` and `vnet report` as a user runs them (in-process CLI): without --epochs a
 * resume finishes the run with the epochs it was started with (not the spec's); a new --epochs is
 * announced; recipe.json, the sidecars and the report count epochs from 1 and name the command
 * that started the run, the resumes after it.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../cli-run.js';
import { encodeIdx } from '../../src/runtime/io/idx.js';
import { RunDir } from '../../src/runtime/train/rundir.js';
import { TINY_SPEC, syntheticData, writeSpec } from './tiny.js';

const spec = writeSpec(TINY_SPEC, 'tiny-resume');
const root = mkdtempSync(join(tmpdir(), 'vnet-cli-resume-'));
const dataDir = join(root, 'data');
const out = join(root, 'run');

beforeAll(() => {
  mkdirSync(dataDir);
  for (const [prefix, n, seed] of [
    ['train', 80, 1],
    ['t10k', 20, 2],
  ] as const) {
    const ds = syntheticData(n, seed);
    const bytes = Uint8Array.from(ds.x, (v) => Math.round(v * 255));
    writeFileSync(join(dataDir, `${prefix}-images-idx3-ubyte.gz`), encodeIdx([n, 28, 28], bytes, true));
    writeFileSync(
      join(dataDir, `${prefix}-labels-idx1-ubyte.gz`),
      encodeIdx([n], Uint8Array.from(ds.y), true),
    );
  }
});

const train = (...args: string[]) =>
  cli('train', spec, '--data', dataDir, '--backend', 'cpu', '--out', out, ...args);

describe('vnet train --resume and vnet report', () => {
  it('resumes with the recorded epochs, announces a new --epochs, reports the first command', async () => {
    const first = await train('--epochs', '1');
    expect(first.code).toBe(0);
    expect(first.err).toMatch(/last checkpoint \(epoch 1\)/);

    // the spec says 3 epochs; the run was started with 1: --resume alone does not extend it
    const again = await train('--resume');
    expect(again.code).toBe(0);
    expect(again.err).toContain('the run is already complete (1 epochs)');
    expect(new RunDir(out).readMetrics()).toHaveLength(1);

    const longer = await train('--resume', '--epochs', '3');
    expect(longer.code).toBe(0);
    expect(longer.err).toContain('the run now has 3 epochs instead of 1 (--epochs)');
    expect(longer.err).toContain('after epoch 1 of 3');
    expect(longer.err).toMatch(/best checkpoint \(epoch 3\)/);
    const rd = new RunDir(out);
    expect(rd.readMetrics().map((m) => m.epoch)).toEqual([1, 2, 3]);
    const test = JSON.parse(readFileSync(rd.testPath, 'utf8')) as { epoch: number };
    expect(test.epoch).toBe(3);
    const recipe = rd.readRecipe();
    expect(recipe['command']).toBe(
      `vnet train ${spec} --data ${dataDir} --backend cpu --out ${out} --epochs 1`,
    );
    expect((recipe['resumes'] as unknown[]).length).toBe(2);

    const html = join(root, 'report.html');
    const r = await cli('report', out, '--status-images', '0', '--gap-images', '0', '-o', html);
    expect(r.code).toBe(0);
    const page = readFileSync(html, 'utf8');
    const data = JSON.parse(
      page.split('<script id="vnet-data" type="application/json">')[1]!.split('</script>')[0]!,
    ) as { facts: [string, string][]; metrics: { epoch: number }[] };
    const facts = new Map(data.facts);
    expect(facts.get('command')).toBe(recipe['command']);
    expect(facts.get('resumed (2)')).toMatch(/^after epoch 1: vnet train .* --resume --epochs 3$/);
    expect(facts.get('checkpoint')).toBe('best (epoch 3)');
    expect(data.metrics.map((m) => m.epoch)).toEqual([1, 2, 3]);
  });
});
