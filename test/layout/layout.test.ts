/** The torch ↔ internal converter: round trips, and agreement with the definitions of each layout. */
import { describe, expect, it } from 'vitest';
import type { ParamSpec } from '../../src/ir/ir.js';
import {
  chwToHwc,
  hwcToChw,
  internalShape,
  internalToTorch,
  torchToInternal,
} from '../../src/runtime/layout.js';

const ramp = (torchShape: number[], flattenedFrom?: number[]): ParamSpec => ({
  name: 'r1.r',
  ident: 'r1_r',
  role: 'ramp.r',
  torchShape,
  fanIn: 1,
  ...(flattenedFrom ? { flattenedFrom } : {}),
});
const seq = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => i + 1);

describe('layout', () => {
  const cases: ParamSpec[] = [
    { name: 'fc.weight', ident: 'fc_weight', role: 'dense.weight', torchShape: [3, 5], fanIn: 5 },
    {
      name: 'fc.weight',
      ident: 'fc_weight',
      role: 'dense.weight',
      torchShape: [4, 12],
      fanIn: 12,
      flattenedFrom: [3, 2, 2],
    },
    { name: 'c.weight', ident: 'c_weight', role: 'conv.weight', torchShape: [4, 3, 2, 5], fanIn: 30 },
    { name: 'c.bias', ident: 'c_bias', role: 'bias', torchShape: [4], fanIn: 30 },
    ramp([3, 2, 4]),
    ramp([12], [3, 2, 2]),
    ramp([7]),
  ];
  for (const p of cases)
    it(`round-trips ${p.role} ${p.torchShape.join('x')}${p.flattenedFrom ? ' after flatten' : ''}`, () => {
      const n = p.torchShape.reduce((a, b) => a * b, 1);
      const d = seq(n);
      expect(Array.from(internalToTorch(p, torchToInternal(p, d)))).toEqual(Array.from(d));
      expect(internalShape(p).reduce((a, b) => a * b, 1)).toBe(n);
    });

  it('dense weight is transposed to [in, out]', () => {
    const p = cases[0]!;
    const t = torchToInternal(p, seq(15)); // torch W[o][i] = o*5 + i + 1
    expect(t[2 * 3 + 1]).toBe(1 * 5 + 2 + 1); // internal [i=2][o=1]
  });

  it('dense weight after a flatten reads torch columns in C,H,W order from H,W,C rows', () => {
    const p = cases[1]!; // flattened from C=3, H=2, W=2
    const t = torchToInternal(p, seq(48)); // torch W[o][chw]
    // internal row for (h=1, w=0, c=2) = (1*2+0)*3+2 = 8 takes torch column c*4 + h*2 + w = 10
    expect(t[8 * 4 + 3]).toBe(3 * 12 + 10 + 1);
  });

  it('conv weight goes to [kh, kw, in, out]', () => {
    const p = cases[2]!; // [o=4, i=3, kh=2, kw=5]
    const t = torchToInternal(p, seq(120));
    const torchIdx = ((1 * 3 + 2) * 2 + 1) * 5 + 3; // o=1, i=2, y=1, x=3
    expect(t[((1 * 5 + 3) * 3 + 2) * 4 + 1]).toBe(torchIdx + 1);
  });

  it('a vector r after a flatten follows the map order, like the activations it scales', () => {
    const p = ramp([12], [3, 2, 2]);
    expect(Array.from(torchToInternal(p, seq(12)))).toEqual(Array.from(chwToHwc(seq(12), 3, 2, 2)));
  });

  it('chw and hwc images convert back and forth, batch-major', () => {
    const d = seq(2 * 3 * 4 * 5);
    expect(Array.from(hwcToChw(chwToHwc(d, 3, 4, 5), 3, 4, 5))).toEqual(Array.from(d));
  });
});
