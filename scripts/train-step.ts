/**
 * `npx tsx scripts/train-step.ts [--backend wasm] [--steps N] [--specs a,b] [--methods ibp,crown-ibp] [--batch B]`
 *
 * Milliseconds per training step of the real trainer path (the generated `trainLoss` inside
 * `TrainSession.step`: gradients, PyTorch-style Adam, r clamp, epoch statistics) at batch 100 (default),
 * ε = 0.1, on the bundled Fashion-MNIST subset, for an IBP step and a CROWN-IBP step (β = 0.5, so
 * both bound passes run) of each spec; one thread. The CROWN-IBP variant of a spec is the spec
 * with `method = crown-ibp`. Prints one line per (spec, method): the median wall time and the
 * median CPU time (user + system) of a step; on a shared machine the CPU time is the steadier one.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSpecModule } from '../src/codegen/load.js';
import { initBackend } from '../src/runtime/backend.js';
import { loadDataset } from '../src/runtime/io/datasets.js';
import { TrainSession } from '../src/runtime/train/run.js';
import type { Schedule } from '../src/runtime/train/types.js';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const B = Number(arg('batch', '100'));
const steps = Number(arg('steps', '20'));
const info = await initBackend(arg('backend', 'wasm'), { threads: 1 });
console.log(`backend ${info.detail}; batch ${B}; median of ${steps} steps after 3 warm-up steps`);
const tmp = mkdtempSync(join(tmpdir(), 'vnet-step-'));

for (const spec of arg('specs', 'fmnist-mlp,fmnist-cnn-small').split(',')) {
  const text = readFileSync(join('specs', `${spec}.vnet`), 'utf8');
  for (const method of arg('methods', 'ibp,crown-ibp').split(',')) {
    const path = join(tmp, `${spec}-${method}.vnet`);
    writeFileSync(path, text.replace(/method\s*=\s*[a-z-]+/, `method = ${method}`));
    const mod = await loadSpecModule(path);
    const data = await loadDataset('fashion-mnist', {
      split: 'train',
      bundled: true,
      limit: (steps + 3) * B,
      expectShape: mod.meta.input.shape,
    });
    const recipe = { ...mod.recipe!, batchSize: B, valSplit: 0 };
    const run = TrainSession.open({
      module: mod,
      recipe,
      data,
      outDir: join(tmp, `${spec}-${method}`),
      stream: { write: () => true },
    });
    const s: Schedule = { eps: 0.1, kappa: 0, beta: 0.5, eta: undefined, lr: 1e-3 };
    const wall: number[] = [];
    const cpu: number[] = [];
    let i = 0;
    for (const batch of run.batches(0)) {
      const t = performance.now();
      const c = process.cpuUsage();
      run.step(batch, s, false, mod.trainLoss!);
      run.params[Object.keys(run.params)[0]!]!.dataSync(); // wait for the update
      const dc = process.cpuUsage(c);
      if (i++ >= 3) {
        wall.push(performance.now() - t);
        cpu.push((dc.user + dc.system) / 1000);
      }
      if (wall.length === steps) break;
    }
    const med = (xs: number[]): string =>
      [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(1);
    console.log(
      `${spec.padEnd(18)} ${method.padEnd(10)} wall ${med(wall).padStart(7)} ms  cpu ${med(cpu).padStart(7)} ms  (${wall.length} steps)`,
    );
    run.dispose();
  }
}
