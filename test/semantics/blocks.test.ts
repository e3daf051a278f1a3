/**
 * Reusable blocks (src/semantics/blocks.ts): a block's uses expand to exactly the network written
 * out by hand (the shipped ResNet against its hand-written form of before), names and inputs as
 * documented, parameters substituted with their defaults, nested blocks, and the diagnostics
 * (their baselines are test/cases/errors/block-*.vnet).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Layer } from '../../src/ir/ir.js';
import { checkSource } from '../../src/semantics/index.js';

const layersOf = (text: string): readonly Layer[] => {
  const r = checkSource('blocks.vnet', text);
  expect(r.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message)).toEqual([]);
  return r.model!.layers;
};

/** What a layer computes, without its name: op, input positions, shapes, parameter shapes. */
const structure = (ls: readonly Layer[]) => {
  const index = new Map(ls.map((l, i) => [l.name, i]));
  return ls.map((l) => ({
    op: l.op,
    inputs: l.inputs.map((n) => (n === 'input' ? -1 : index.get(n))),
    out: l.outShape,
    params: l.params.map((p) => [p.role, p.torchShape]),
  }));
};

/** specs/fmnist-resnet.vnet as it was written before blocks (the same network, layer by layer). */
const HANDWRITTEN = `
network fmnist_resnet {
  input   = 1x28x28
  classes = 10
  layers {
    stem  = conv2d(16, kernel: 3, stride: 2, padding: 1)
    bn0   = batchnorm
    r0    = relu
    b1c1  = conv2d(16, kernel: 3, padding: 1)
    b1bn1 = batchnorm
    b1r1  = relu
    b1c2  = conv2d(16, kernel: 3, padding: 1)
    b1bn2 = batchnorm
    b1sum = add(b1bn2, r0)
    r1    = relu
    b2c1  = conv2d(32, kernel: 3, stride: 2, padding: 1)
    b2bn1 = batchnorm
    b2r1  = relu
    b2c2  = conv2d(32, kernel: 3, padding: 1)
    b2bn2 = batchnorm
    b2sc  = conv2d(r1, 32, kernel: 1, stride: 2, bias: false)
    b2scbn = batchnorm
    b2sum = add(b2bn2, b2scbn)
    r2    = relu
    pool  = global_avgpool
    flatten
    fc    = dense(10)
  }
}`;

describe('reusable blocks', () => {
  it('the shipped ResNet, written with blocks, is the hand-written network layer for layer', () => {
    const shipped = readFileSync(new URL('../../specs/fmnist-resnet.vnet', import.meta.url), 'utf8');
    const a = layersOf(shipped);
    const b = layersOf(HANDWRITTEN);
    expect(structure(a)).toEqual(structure(b));
    expect(a.map((l) => l.name).slice(3, 10)).toEqual([
      'b1_c1',
      'b1_bn1',
      'b1_r1',
      'b1_c2',
      'b1_bn2',
      'b1',
      'r1',
    ]);
    // the shortcut reads the instance's input, the sum its two branches
    const byName = new Map(a.map((l) => [l.name, l]));
    expect(byName.get('b2_sc')!.inputs).toEqual(['r1']);
    expect(byName.get('b2')!.inputs).toEqual(['b2_bn2', 'b2_scbn']);
    expect(byName.get('b1_c1')!.params.map((p) => p.name)).toEqual(['b1_c1.weight', 'b1_c1.bias']);
  });

  it('names unnamed layers <instance>_<kind><n>, substitutes parameters, and nests blocks', () => {
    const ls = layersOf(`
block lin {
  params { out  slope = 0.1 }
  dense(out)
  leaky_relu(slope)
}
block two {
  params { out = 8 }
  a = lin(in, out: out)
  b = lin(a, out: out, slope: 0.2)
}
network n {
  input   = 20
  classes = 10
  layers {
    t1 = two(input)
    t2 = two(t1, out: 4)
    fc = dense(10)
  }
}`);
    expect(ls.map((l) => l.name)).toEqual([
      't1_a_dense1',
      't1_a',
      't1_dense1',
      't1',
      't2_a_dense1',
      't2_a',
      't2_dense1',
      't2',
      'fc',
    ]);
    expect(ls.map((l) => l.outShape[0])).toEqual([8, 8, 8, 8, 4, 4, 4, 4, 10]);
    expect(
      ls.filter((l) => l.op.kind === 'leaky_relu').map((l) => (l.op as { slope: number }).slope),
    ).toEqual([0.1, 0.2, 0.1, 0.2]);
    expect(ls[0]!.inputs).toEqual(['input']);
    expect(ls[4]!.inputs).toEqual(['t1']);
  });

  it('a spec without blocks is unaffected, and an unused block is allowed', () => {
    const plain = `network n {\n  input = 4\n  classes = 2\n  layers { fc = dense(2) }\n}`;
    expect(structure(layersOf(plain))).toEqual(
      structure(layersOf(`block unused { d = dense(3) }\n${plain}`)),
    );
  });
});
