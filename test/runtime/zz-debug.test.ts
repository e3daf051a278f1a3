import * as tf from '@tensorflow/tfjs-core';
import { it } from 'vitest';
import { refBounds, refForward } from '../../src/reference/index.js';
import * as rt from '../../src/runtime/index.js';
import { buildNet, randomInputs, runBounds, runForward, toInternal, useBackend } from './nets.js';
await useBackend('wasm');
it('debug', () => {
  const act = { kind: 'relu' } as const;
  const net = buildNet(
    { shape: [2, 6, 6], mean: [0.3, 0.5], std: [0.5, 0.25] },
    [
      { kind: 'conv2d', out: 3, k: 3, s: 1, p: 1 },
      act,
      { kind: 'conv2d', out: 4, k: 3, s: 2, p: [1, 0, 1, 0] },
      act,
      { kind: 'flatten' },
      { kind: 'dense', out: 10 },
      act,
      { kind: 'dense', out: 4 },
    ],
    11,
    { wScale: 1.6, r: [0.05, 1.2] },
  );
  const x = randomInputs(net, 3, 5);
  console.log(net.model.layers.map((l) => `${l.name} ${l.inShape} -> ${l.outShape}`));
  const ref = refForward(net.model, net.torch, x, 3);
  const got = runForward(net, toInternal(net, x, 3)).arraySync();
  console.log(
    'ref',
    Array.from(ref[0]!).map((v) => v.toFixed(4)),
    'tf',
    (got as number[][])[0]!.map((v) => v.toFixed(4)),
  );
  const rb = refBounds(net.model, net.torch, x, 3, 0.08, 'ibp');
  const box = rt.inputBox(toInternal(net, x, 3), 0.08, net.inputCfg);
  const tb = runBounds(net, box, 'ibp');
  console.log(
    ' ref ibp',
    Array.from(rb.lower[0]!).map((v) => v.toFixed(4)),
    Array.from(rb.upper[0]!).map((v) => v.toFixed(4)),
  );
  console.log(
    ' tf  ibp',
    (tb.lower.arraySync() as number[][])[0]!.map((v) => v.toFixed(4)),
    (tb.upper.arraySync() as number[][])[0]!.map((v) => v.toFixed(4)),
  );
});
it('debug2', () => {
  const act = { kind: 'relu' } as const;
  const net = buildNet(
    { shape: [2, 6, 6], mean: [0.3, 0.5], std: [0.5, 0.25] },
    [
      { kind: 'conv2d', out: 3, k: 3, s: 1, p: 1 },
      act,
      { kind: 'conv2d', out: 4, k: 3, s: 2, p: [1, 0, 1, 0] },
      act,
      { kind: 'flatten' },
      { kind: 'dense', out: 10 },
      act,
      { kind: 'dense', out: 4 },
    ],
    11,
    { wScale: 1.6, r: [0.05, 1.2] },
  );
  const x = randomInputs(net, 3, 5);
  const n0 = 72;
  const p = Float64Array.from({ length: n0 }, (_, i) => Math.min(Math.max(x[i]! + 0.08, 0), 1));
  const p2 = Float64Array.from({ length: n0 }, (_, i) => Math.min(Math.max(x[i]! - 0.08, 0), 1));
  console.log(refForward(net.model, net.torch, p, 1), refForward(net.model, net.torch, p2, 1));
  const xs = Float64Array.from([...p, ...p2]);
  console.log(refForward(net.model, net.torch, xs, 2));
});
it('debug3', () => {
  const C = rt.marginSpec(tf.tensor1d([0, 2, 3], 'int32'), 4);
  console.log(JSON.stringify(C.arraySync()));
});
