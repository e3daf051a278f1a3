/** `vnet bundle` in Node: the site it writes, and the clear errors for bad inputs. */
import { afterAll, describe, expect, it, vi } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBundle, type BundleOptions } from '../../src/bundle/build.js';
import { MANIFEST_ID, WASM_FILES, type BundleManifest } from '../../src/bundle/manifest.js';
import { formatBundleResult } from '../../src/bundle/report.js';
import { UserError } from '../../src/base/errors.js';
import { main } from '../../src/cli/main.js';

const dir = mkdtempSync(join(tmpdir(), 'vnet-bundle-build-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base: BundleOptions = {
  specPath: 'specs/fmnist-mlp.vnet',
  weightsPath: 'models/fmnist-mlp.safetensors',
  outDir: join(dir, 'site'),
  dataDir: 'data/fashion-mnist-subset',
  samples: 3,
};

/** A certificate line of fmnist-mlp (10 classes) for sample `index`, label `label`. */
const cert = (index: number, label = 9, over: Record<string, unknown> = {}): string =>
  JSON.stringify({
    index,
    label,
    prediction: label,
    method: 'ibp',
    lines: 'tight',
    eps: 0.1,
    marginClasses: [...Array(10).keys()].filter((j) => j !== label),
    marginLower: Array(9).fill(0.5),
    verified: true,
    pgd: 'not-run',
    ...over,
  });

async function userError(o: Partial<BundleOptions>): Promise<string> {
  try {
    await buildBundle({ ...base, ...o });
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return [(e as UserError).message, ...(e as UserError).help].join('\n');
  }
  throw new Error('expected a UserError');
}

describe('vnet bundle', () => {
  it('writes the page, one browser script, the wasm binaries, weights, samples and certificates', async () => {
    const certs = join(dir, 'c.jsonl');
    writeFileSync(
      certs,
      [cert(0), cert(20, 4 /* wrong label: checked on the page, not here */)].join('\n') + '\n',
    );
    const r = await buildBundle({ ...base, certificatesPath: certs });
    const names = r.files.map((f) => f.name).sort();
    expect(names).toEqual(
      [
        'index.html',
        'app.js',
        ...WASM_FILES,
        'weights.safetensors',
        'samples.f32',
        'certificates.jsonl',
      ].sort(),
    );
    for (const f of r.files) expect(existsSync(join(base.outDir, f.name)), f.name).toBe(true);
    const html = readFileSync(join(base.outDir, 'index.html'), 'utf8');
    const json = new RegExp(`<script type="application/json" id="${MANIFEST_ID}">(.*?)</script>`, 's').exec(
      html,
    )![1]!;
    const m = JSON.parse(json) as BundleManifest;
    expect(m.network).toBe('fmnist_mlp');
    expect(m.samples.indices).toEqual([0, 1, 2, 20]);
    expect(m.samples.pickable).toBe(3);
    expect(m.classNames[9]).toBe('Ankle boot');
    expect(m.certificates).toEqual({ file: 'certificates.jsonl', name: 'c.jsonl', lines: 2 });
    expect(readFileSync(join(base.outDir, 'samples.f32')).length).toBe(4 * 784 * 4);
    expect(
      readFileSync(join(base.outDir, 'weights.safetensors')).equals(readFileSync(base.weightsPath)),
    ).toBe(true);
    // nothing from elsewhere: every src/href is a local file (or an empty data: icon)
    const refs = [...html.matchAll(/(?:src|href)="([^"]*)"/g)].map((x) => x[1]);
    expect(refs).toEqual(['data:,', 'app.js']);
    const js = readFileSync(join(base.outDir, 'app.js'), 'utf8');
    expect(js).not.toMatch(/https?:\/\/(cdn|unpkg|www\.gstatic)/);
    expect(r.jsBytes).toBe(js.length);
    expect(r.generatedBytes).toBeGreaterThan(1000);
    expect(r.simdKernelBytes).toBeGreaterThan(1000);
    const text = formatBundleResult(r);
    expect(text).toMatch(/page JavaScript: \d+\.\d+ (KiB|MiB)/);
    expect(text).toMatch(/wasm: \d+\.\d+ (KiB|MiB) in all/);
  });

  it('names the file, line and reason for bad inputs', async () => {
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, [cert(0), '{"index": 1', cert(1, 9, { marginLower: [1] })].join('\n'));
    expect(await userError({ certificatesPath: bad })).toMatch(
      /bad\.jsonl: is not a certificate file of network 'fmnist_mlp' \(2 bad lines\):\n {2}- line 2: not valid JSON.*\n {2}- line 3: "marginLower" has 1 entries, expected 9/,
    );
    const far = join(dir, 'far.jsonl');
    writeFileSync(far, cert(5000) + '\n');
    expect(await userError({ certificatesPath: far })).toMatch(
      /far\.jsonl: names sample 5000 that the test split of .* does not have \(1000 samples\)/,
    );
    const empty = join(dir, 'empty.jsonl');
    writeFileSync(empty, '\n');
    expect(await userError({ certificatesPath: empty })).toMatch(/empty\.jsonl: holds no certificates/);
    expect(await userError({ weightsPath: 'models/fmnist-dm-small-relu.safetensors' })).toMatch(
      /fmnist-dm-small-relu\.safetensors: does not match network 'fmnist_mlp'/,
    );
    expect(await userError({ weightsPath: join(dir, 'nope.safetensors') })).toMatch(
      /nope\.safetensors: no such file \(the weights\)/,
    );
    writeFileSync(join(dir, 'file'), 'x');
    expect(await userError({ outDir: join(dir, 'file') })).toMatch(
      /file: is a file \(--out needs a directory\)/,
    );
    expect(await userError({ samples: 0 })).toMatch(/--samples must be an integer ≥ 1/);
  });

  it('is a CLI command with usage errors', async () => {
    const err: string[] = [];
    const spy = vi
      .spyOn(console, 'error')
      .mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
    const spyW = vi
      .spyOn(process.stderr, 'write')
      .mockImplementation((s: string | Uint8Array) => (err.push(String(s)), true));
    try {
      expect(await main(['bundle', 'specs/fmnist-mlp.vnet', '--out', join(dir, 'x')])).toBe(1);
      expect(err.join('')).toContain("missing required option '--weights'");
      expect(await main(['bundle', '--weights', 'w'])).toBe(1);
      expect(err.join('')).toContain("missing required argument 'spec'");
    } finally {
      spy.mockRestore();
      spyW.mockRestore();
    }
  });
});
