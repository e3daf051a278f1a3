/**
 * The float64 reference on its own: PyTorch semantics of conv (asymmetric padding, stride),
 * flatten in C,H,W order, normalisation; soundness of every method × lines on sampled points and
 * box corners; and, exactly in float64, Theorem 2's ordering, constant lines = IBP, and
 * LBP = CROWN on one hidden layer.
 */
import { describe, expect, it } from 'vitest';
import type { BoundMethod, LineStrategy } from '../../src/ir/ir.js';
import { numel } from '../../src/ir/ir.js';
import { refBounds, refForward } from '../../src/reference/index.js';
import * as rt from '../../src/runtime/index.js';
import { buildNet, randomInputs, useBackend, type LayerDesc, type TestNet } from '../runtime/nets.js';

await useBackend('cpu'); // buildNet also makes the (unused here) tfjs tensors

const METHODS: BoundMethod[] = ['ibp', 'lbp', 'crown-ibp', 'crown-lbp', 'crown'];
const LINES: LineStrategy[] = ['tight', 'adaptive', 'constant'];

describe('forward semantics', () => {
  it('conv with stride and asymmetric padding, then flatten (C,H,W) and dense, as PyTorch computes them', () => {
    const net = buildNet(
      { shape: [1, 3, 3], mean: [0.5], std: [2] },
      [
        { kind: 'conv2d', out: 2, k: 2, s: 2, p: [1, 0, 0, 1] },
        { kind: 'flatten' },
        { kind: 'dense', out: 1, bias: false },
      ],
      1,
    );
    const w = net.torch['conv2d1.weight']!; // [2, 1, 2, 2]
    const b = net.torch['conv2d1.bias']!;
    const d = net.torch['dense1.weight']!; // [1, 8]
    const x = Float64Array.from([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]);
    const xn = Array.from(x, (v) => (v - 0.5) / 2);
    const at = (r: number, c: number): number => (r >= 0 && r < 3 && c >= 0 && c < 3 ? xn[r * 3 + c]! : 0);
    // Output 2×2 per channel: rows start at −1 (pad top 1), columns at 0 (pad left 0), stride 2.
    let want = 0;
    for (let o = 0; o < 2; o++)
      for (let y = 0; y < 2; y++)
        for (let xx = 0; xx < 2; xx++) {
          let v = b[o]!;
          for (let i = 0; i < 2; i++)
            for (let j = 0; j < 2; j++) v += w[o * 4 + i * 2 + j]! * at(2 * y - 1 + i, 2 * xx + j);
          want += d[o * 4 + y * 2 + xx]! * v; // torch.flatten: C, H, W
        }
    expect(net.model.layers[0]!.outShape).toEqual([2, 2, 2]);
    expect(refForward(net.model, net.torch, x, 1)[0]![0]).toBeCloseTo(want, 12);
  });
});

function deepNet(act: LayerDesc, seed: number): TestNet {
  return buildNet(
    { shape: [2, 4, 4], mean: [0.2, 0.6], std: [0.5, 0.3] },
    [
      { kind: 'conv2d', out: 3, k: 3, s: 1, p: 1 },
      act,
      { kind: 'conv2d', out: 3, k: 2, s: 2, p: 0 },
      act,
      { kind: 'flatten' },
      { kind: 'dense', out: 8 },
      act,
      { kind: 'dense', out: 4 },
    ],
    seed,
    { wScale: 1.7 },
  );
}

const ACTS: [string, LayerDesc][] = [
  ['relu', { kind: 'relu' }],
  ['leaky_relu(0.1)', { kind: 'leaky_relu', slope: 0.1 }],
  ['paramramp(0.03)', { kind: 'paramramp', eta: 0.03 }],
];

describe.each(ACTS)('reference bounds with %s', (_name, act) => {
  const net = deepNet(act, 51);
  const B = 2;
  const eps = 0.1;
  const x = randomInputs(net, B, 52);
  const labels = [1, 3];
  const n0 = numel(net.model.input.shape);
  const rng = rt.rngFromSeed(53);
  // 150 points per sample: the first 75 are random box corners.
  const pts = Array.from({ length: B }, (_, b) =>
    Float64Array.from({ length: 150 * n0 }, (_, k) => {
      const v = x[b * n0 + (k % n0)]!;
      const [lo, hi] = [Math.max(v - eps, 0), Math.min(v + eps, 1)];
      return lo + (hi - lo) * (k < 75 * n0 ? +(rng.next() < 0.5) : rng.next());
    }),
  );
  const outs = pts.map((p) => refForward(net.model, net.torch, p, 150));

  it.each(METHODS.flatMap((m) => LINES.map((l) => [m, l] as const)))(
    '%s, %s lines: sound',
    (method, lines) => {
      const r = refBounds(net.model, net.torch, x, B, eps, method, { lines, labels });
      let worst = -Infinity;
      outs.forEach((zs, b) =>
        zs.forEach((z) =>
          [0, 1, 2, 3]
            .filter((j) => j !== labels[b])
            .forEach((j, i) => {
              const m = z[labels[b]!]! - z[j]!;
              worst = Math.max(worst, r.lower[b]![i]! - m, m - r.upper[b]![i]!);
            }),
        ),
      );
      expect(worst).toBeLessThan(1e-9);
    },
  );

  it('Theorem 2 ordering holds exactly with tight lines; constant lines are IBP', () => {
    const [ibp, lbp, ci, cl, c] = (['ibp', 'lbp', 'crown-ibp', 'crown-lbp', 'crown'] as const).map((m) =>
      refBounds(net.model, net.torch, x, B, eps, m, { labels }),
    );
    const le = (a: Float64Array[], b: Float64Array[]): void =>
      a.forEach((row, i) => row.forEach((v, j) => expect(v).toBeLessThanOrEqual(b[i]![j]! + 1e-9)));
    for (const [lo, hi] of [
      [ibp!, lbp!],
      [ibp!, ci!],
      [lbp!, cl!],
      [ci!, cl!],
      [cl!, c!],
    ]) {
      le(lo!.lower, hi!.lower);
      le(hi!.upper, lo!.upper);
    }
    for (const m of ['lbp', 'crown-ibp', 'crown-lbp', 'crown'] as const) {
      const k = refBounds(net.model, net.torch, x, B, eps, m, { labels, lines: 'constant' });
      k.lower.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(ibp!.lower[i]![j]!, 10)));
      k.upper.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(ibp!.upper[i]![j]!, 10)));
    }
  });

  it('LBP equals CROWN on one hidden layer', () => {
    const small = buildNet({ shape: [6] }, [{ kind: 'dense', out: 7 }, act, { kind: 'dense', out: 3 }], 54, {
      wScale: 2,
    });
    const xs = randomInputs(small, 2, 55);
    for (const lines of ['tight', 'adaptive'] as const) {
      const a = refBounds(small.model, small.torch, xs, 2, 0.3, 'lbp', { lines });
      const b = refBounds(small.model, small.torch, xs, 2, 0.3, 'crown', { lines });
      a.lower.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(b.lower[i]![j]!, 10)));
      a.upper.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(b.upper[i]![j]!, 10)));
    }
  });
});
