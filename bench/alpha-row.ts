/**
 * `npx tsx bench/alpha-row.ts <spec> <weights> <N> <eps> [options-json ...]`
 *
 * The alpha-crown row of `vnet verify` (src/verify/alpha-row.ts `alphaMargins`) on the first N
 * images of the Fashion-MNIST test set (/usr/share/datasets/fashion-mnist, or $VNET_FMNIST), one
 * thread, for each given variant of `DEFAULT_ALPHA_ROW` (e.g. '{}' '{"iterations":100,"giveUp":false}'
 * '{"intermediate":"adaptive"}'): correctly classified samples bounded, how many CROWN's start
 * and α-CROWN verify (float64 verdicts, no rigorous confirmation), margins optimised, and wall /
 * CPU ms per bounded sample.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { specToSeqNet } from '../src/complete/spec-net.js';
import { checkOrThrow } from '../src/codegen/load.js';
import { readSafetensors } from '../src/runtime/io/safetensors.js';
import { forward } from '../src/complete/crown.js';
import { alphaMargins, DEFAULT_ALPHA_ROW, type AlphaRowOptions } from '../src/verify/alpha-row.js';

const [spec, weights, count, epsText, ...variants] = process.argv.slice(2);
if (!spec || !weights || !count || !epsText) {
  console.error('usage: npx tsx bench/alpha-row.ts <spec> <weights> <N> <eps> [options-json ...]');
  process.exit(1);
}
const net = specToSeqNet(checkOrThrow(spec), readSafetensors(weights).tensors);
const dir = process.env.VNET_FMNIST ?? '/usr/share/datasets/fashion-mnist';
const img = gunzipSync(readFileSync(join(dir, 't10k-images-idx3-ubyte.gz')));
const lab = gunzipSync(readFileSync(join(dir, 't10k-labels-idx1-ubyte.gz')));
const eps = Number(epsText);
for (const v of variants.length ? variants : ['{}']) {
  const o: AlphaRowOptions = { ...DEFAULT_ALPHA_ROW, ...(JSON.parse(v) as Partial<AlphaRowOptions>) };
  let wall = 0;
  let cpu = 0;
  let bounded = 0;
  let crownVerified = 0;
  let alphaVerified = 0;
  let optimised = 0;
  for (let s = 0; s < Number(count); s++) {
    // the float32 pixels vnet verify reads
    const x = Float64Array.from(img.subarray(16 + s * 784, 16 + (s + 1) * 784), (q) => Math.fround(q / 255));
    const y = lab[8 + s]!;
    const out = forward(net, x);
    if (out.indexOf(Math.max(...out)) !== y) continue;
    const box = { lo: x.map((q) => Math.max(0, q - eps)), hi: x.map((q) => Math.min(1, q + eps)) };
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const r = alphaMargins(net, box, y, o);
    wall += performance.now() - t0;
    const c = process.cpuUsage(c0);
    cpu += (c.user + c.system) / 1000;
    bounded++;
    optimised += r.optimised;
    if (r.crownLower.every((q) => q > 0)) crownVerified++;
    if (r.lower.every((q) => q > 0)) alphaVerified++;
  }
  const per = (t: number): number => Math.round(t / Math.max(1, bounded));
  console.log(
    JSON.stringify({
      variant: o,
      bounded,
      crownVerified,
      alphaVerified,
      optimisedMargins: optimised,
      wallMsPerSample: per(wall),
      cpuMsPerSample: per(cpu),
    }),
  );
}
