/** The checker: defaults, names, arguments, padding, normalisation, warnings and file handling. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ModelIR } from '../../src/ir/ir.js';
import { checkFile, checkSource } from '../../src/semantics/index.js';

const net = (layers: string, extra = '', input = '1x28x28') =>
  `network n {\n  input = ${input}\n  classes = 10\n  ${extra}\n  layers {\n${layers}\n  }\n}\n`;
const rest = 'threat { train_eps = 0.1 }\ntrain { dataset = mnist }\n';

function ok(text: string, path = 'specs/t.vnet'): ModelIR {
  const r = checkSource(path, text);
  expect(r.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message)).toEqual([]);
  return r.model!;
}
const diags = (text: string) => checkSource('t.vnet', text).diagnostics;
const codes = (text: string) => diags(text).map((d) => d.code);

describe('defaults', () => {
  it('fills every documented default of the threat, train and verify blocks', () => {
    const m = ok(net('flatten\ndense(10)') + rest);
    expect(m.input).toEqual({ shape: [1, 28, 28], domain: [0, 1], mean: [0], std: [1] });
    expect(m.threat).toEqual({ norm: 'linf', trainEps: 0.1, testEps: [0.1] });
    expect(m.train).toEqual({
      dataset: 'mnist',
      epochs: 200,
      batchSize: 256,
      optimizer: { kind: 'adam', lr: 5e-4, weightDecay: 0 },
      lrMilestones: [130, 190],
      lrFactor: 0.1,
      epsSchedule: { start: 10, length: 51, shape: 'linear' },
      method: 'ibp',
      kappa: [0, 0],
      beta: [1, 0],
      lines: 'adaptive',
      seed: 2019,
      valSplit: 0.1,
      rNoise: 0,
    });
    expect(m.verify).toEqual({
      methods: ['ibp', 'crown-ibp', 'lbp', 'crown-lbp'],
      lines: 'tight',
      pgd: { steps: 200, restarts: 10, stepSize: 0.01 },
    });
  });

  it('fills defaults inside nested blocks and calls that are partly written', () => {
    const m = ok(
      net('flatten\ndense(20)\nleaky_relu\ndense(10)') +
        'threat { train_eps = 0.1 }\ntrain { dataset = mnist  optimizer = adam(lr: 1e-3)  eps_schedule { length = 5 }\n' +
        '  eta_schedule { to = 0.001 } }\nverify { pgd { restarts = 1 } }',
    );
    expect(m.train!.optimizer).toEqual({ kind: 'adam', lr: 1e-3, weightDecay: 0 });
    expect(m.train!.epsSchedule).toEqual({ start: 10, length: 5, shape: 'linear' });
    expect(m.verify.pgd).toEqual({ steps: 200, restarts: 1, stepSize: 0.01 });
    // eta_schedule defaults (paper MNIST: 0.01 -> 0 from epoch 70 over 71 epochs, smoothed); no slope layer → error
    expect(
      codes(
        net('flatten\ndense(10)') + 'threat { train_eps = 0.1 }\ntrain { dataset = mnist eta_schedule { } }',
      ),
    ).toEqual([4007]);
    const ramp = ok(
      net('flatten\ndense(20)\nparamramp(0.01)\ndense(10)') +
        'threat { train_eps = 0.1 }\ntrain { dataset = mnist eta_schedule { } }',
    );
    expect(ramp.train!.etaSchedule).toEqual({ from: 0.01, to: 0, start: 70, length: 71, shape: 'smoothed' });
  });

  it('accepts a bare `adam`, strings for names, a single number for a range', () => {
    const m = ok(
      net('flatten\ndense(10)') +
        'threat { train_eps = 0.1 }\ntrain { dataset = "mnist" optimizer = adam kappa = 0.5 }',
    );
    expect(m.train!.optimizer).toEqual({ kind: 'adam', lr: 5e-4, weightDecay: 0 });
    expect(m.train!.kappa).toEqual([0.5, 0.5]);
  });

  it('names the module after the file and hashes the text', () => {
    const text = net('flatten\ndense(10)') + rest;
    const m = ok(text, 'some/dir/my-net.vnet');
    expect(m.moduleName).toBe('my-net');
    expect(m.sourcePath).toBe('some/dir/my-net.vnet');
    expect(m.specHash).toBe(createHash('sha256').update(text).digest('hex'));
    expect(JSON.parse(JSON.stringify(m))).toEqual(m);
  });
});

describe('layers', () => {
  it('names unnamed layers <kind><n>, counting named layers of the kind too', () => {
    const m = ok(
      net('conv2d(4, kernel: 3)\nrelu\nc = conv2d(4, kernel: 3)\nr = relu\nrelu\nflatten\ndense(10)') + rest,
    );
    expect(m.layers.map((l) => l.name)).toEqual([
      'conv2d1',
      'relu1',
      'c',
      'r',
      'relu3',
      'flatten1',
      'dense1',
    ]);
    expect(m.layers.map((l) => l.inputs[0])).toEqual([
      'input',
      'conv2d1',
      'relu1',
      'c',
      'r',
      'relu3',
      'flatten1',
    ]);
    expect(m.params.map((p) => p.ident)).toEqual([
      'conv2d1_weight',
      'conv2d1_bias',
      'c_weight',
      'c_bias',
      'dense1_weight',
      'dense1_bias',
    ]);
  });

  it('records each layer’s spec line', () => {
    const text = net('flatten\n    fc = dense(10)') + rest;
    const m = ok(text);
    expect(m.layers.map((l) => text.slice(l.origin.start, l.origin.end))).toEqual([
      'flatten',
      'fc = dense(10)',
    ]);
    expect(m.layers.map((l) => [l.name, l.origin.line, l.origin.col])).toEqual([
      ['flatten1', 6, 1],
      ['fc', 7, 5],
    ]);
  });

  it('binds positional and named arguments, with defaults', () => {
    const m = ok(
      net('conv2d(8, 3, 2, 1, false)\nleaky_relu\nparamramp(eta: 0.1)\nflatten\ndense(10, bias: false)') +
        rest,
    );
    expect(m.layers.map((l) => l.op)).toEqual([
      { kind: 'conv2d', out: 8, kernel: [3, 3], stride: [2, 2], padding: [1, 1, 1, 1], bias: false },
      { kind: 'leaky_relu', slope: 0.01 },
      { kind: 'paramramp', eta: 0.1 },
      { kind: 'flatten' },
      { kind: 'dense', out: 10, bias: false },
    ]);
    expect(m.params.map((p) => p.name)).toEqual(['conv2d1.weight', 'paramramp1.r', 'dense1.weight']);
  });

  it('resolves padding forms, TF-style same (odd pixel at the end) and valid', () => {
    const shapeOf = (conv: string) => {
      const m = ok(net(`c = ${conv}\nflatten\ndense(10)`) + rest);
      return { out: m.layers[0]!.outShape, op: m.layers[0]!.op };
    };
    expect(shapeOf('conv2d(2, kernel: 3, stride: 2, padding: same)')).toMatchObject({
      out: [2, 14, 14],
      op: { padding: [0, 1, 0, 1] },
    });
    expect(shapeOf('conv2d(2, kernel: 4, padding: same)')).toMatchObject({
      out: [2, 28, 28],
      op: { padding: [1, 2, 1, 2] },
    });
    expect(shapeOf('conv2d(2, kernel: 3, padding: valid)')).toMatchObject({
      out: [2, 26, 26],
      op: { padding: [0, 0, 0, 0] },
    });
    expect(shapeOf('conv2d(2, kernel: 3x5, padding: [1, 2])')).toMatchObject({
      out: [2, 28, 28],
      op: { kernel: [3, 5], padding: [1, 1, 2, 2] },
    });
    expect(shapeOf('conv2d(2, kernel: [2, 2], stride: 2x1, padding: [0, 1, 2, 3])')).toMatchObject({
      out: [2, 14, 32],
      op: { stride: [2, 1], padding: [0, 1, 2, 3] },
    });
  });

  it('records the flattened map on the dense weight and ParamRamp r after a flatten, through activations', () => {
    const m = ok(net('c = conv2d(2, kernel: 3)\nflatten\nrelu\nparamramp\nfc = dense(10)') + rest);
    expect(m.params.filter((p) => p.flattenedFrom).map((p) => [p.name, p.flattenedFrom])).toEqual([
      ['paramramp1.r', [2, 26, 26]],
      ['fc.weight', [2, 26, 26]],
    ]);
  });

  it('accepts vector inputs and normalisation per channel or shared', () => {
    const m = ok(net('dense(10)', 'mean = [0.5]  std = [0.25]', '784') + rest);
    expect(m.input).toMatchObject({ shape: [784], mean: [0.5], std: [0.25] });
    expect(m.layers[0]!.params[0]!.flattenedFrom).toBeUndefined();
  });
});

describe('names', () => {
  it('rejects names that are not identifiers, reserved words and collisions with parameter identifiers', () => {
    expect(codes(net('my-fc = dense(10)', '', '784') + rest)).toEqual([2109]);
    expect(diags(net('my-fc = dense(10)', '', '784') + rest)[0]!.help).toEqual([
      "names are letters, digits and '_', not starting with a digit: try 'my_fc'",
    ]);
    expect(codes(net('class = dense(10)', '', '784') + rest)).toEqual([2110]);
    expect(codes(net('input = dense(10)', '', '784') + rest)).toEqual([2110]);
    expect(codes(net('fc = dense(20)\nfc_weight = relu\nout = dense(10)', '', '784') + rest)).toEqual([2111]);
    expect(codes(`network class {\n input = 784 classes = 10 layers { dense(10) } }\n${rest}`)).toEqual([
      2110,
    ]);
  });

  it('reports a duplicate name with a note pointing at the first', () => {
    const ds = diags(net('fc = dense(20)\nfc = dense(10)', '', '784') + rest);
    expect(ds.map((d) => d.code)).toEqual([2108]);
    expect(ds[0]!.related).toMatchObject([{ line: 6, col: 1 }]);
  });

  it('reports a written name that clashes with a default name', () => {
    const ds = diags(net('relu2 = dense(20)\nrelu\nrelu\ndense(10)', '', '784') + rest);
    expect(ds.map((d) => d.code)).toEqual([2108]);
    expect(ds[0]!.help[0]).toMatch(/<kind><n>/);
  });
});

describe('threat, train and verify', () => {
  it('measures ε against the raw input domain', () => {
    expect(
      codes(
        net('flatten\ndense(10)', 'domain = [-1, 1]') +
          'threat { train_eps = 1.5 }\ntrain { dataset = mnist }',
      ),
    ).toEqual([]);
    expect(
      codes(net('flatten\ndense(10)') + 'threat { train_eps = 1.5 }\ntrain { dataset = mnist }'),
    ).toEqual([4001]);
    expect(
      codes(
        net('flatten\ndense(10)') +
          'threat { train_eps = 0.1 test_eps = [0.1, -0.1] }\ntrain { dataset = mnist }',
      ),
    ).toEqual([4001]);
  });

  it('checks the dataset against the input shape and class count', () => {
    expect(codes(net('dense(10)', '', '784') + rest)).toEqual([]);
    expect(codes(net('flatten\ndense(10)', '', '3x32x32') + rest)).toEqual([4004]);
    expect(
      codes(
        net('flatten\ndense(10)', '', '3x32x32') + 'threat { train_eps = 0.1 }\ntrain { dataset = cifar10 }',
      ),
    ).toEqual([]);
  });

  it('warns (and still compiles) when a schedule does not finish within the epochs', () => {
    const r = checkSource(
      't.vnet',
      net('flatten\ndense(10)') + 'threat { train_eps = 0.1 }\ntrain { dataset = mnist epochs = 20 }',
    );
    expect(r.diagnostics.map((d) => [d.code, d.severity])).toEqual([[4006, 'warning']]);
    expect(r.diagnostics[0]!.message).toBe(
      'the eps schedule reaches its final value in epoch 61, but training runs only 20 epochs',
    );
    expect(r.model).toBeDefined();
    // epochs counted from 1: the default ramp (start 10, length 51) is final from epoch 61
    const at = (epochs: number): number[] =>
      checkSource(
        't.vnet',
        net('flatten\ndense(10)') +
          `threat { train_eps = 0.1 }\ntrain { dataset = mnist epochs = ${epochs} }`,
      ).diagnostics.map((d) => d.code);
    expect(at(61)).toEqual([]);
    expect(at(60)).toEqual([4006]);
  });

  it('warns when an η schedule starts elsewhere than the layers’ slope', () => {
    const r = checkSource(
      't.vnet',
      net('flatten\ndense(20)\nr = paramramp(0.02)\ndense(10)') +
        'threat { train_eps = 0.1 }\ntrain { dataset = mnist eta_schedule { from = 0.01 } }',
    );
    expect(r.diagnostics.map((d) => [d.code, d.severity])).toEqual([[4008, 'warning']]);
    expect(r.model?.train!.etaSchedule?.from).toBe(0.01);
  });

  it('reports errors of every block in one run', () => {
    const text =
      net('flatten\ndense(12)') +
      'threat { train_eps = 2 }\ntrain { dataset = mnst epochs = 0 }\nverify { methods = [ibp, ibp] }';
    expect(codes(text)).toEqual([2207, 4001, 4003, 2012, 2014]);
  });
});

describe('checkFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vnet-check-'));

  it('reads a spec from disk', () => {
    const p = join(dir, 'ok.vnet');
    writeFileSync(p, '\ufeff' + net('flatten\ndense(10)') + rest);
    expect(checkFile(p).model?.moduleName).toBe('ok');
  });

  it('turns missing files, directories and non-UTF-8 bytes into diagnostics naming the path', () => {
    const missing = join(dir, 'nope.vnet');
    const bin = join(dir, 'bin.vnet');
    writeFileSync(bin, Buffer.from([0x6e, 0xff, 0xfe, 0x00]));
    for (const [path, code, text] of [
      [missing, 1001, 'no such file'],
      [dir, 1001, 'it is a directory'],
      [bin, 1002, 'UTF-8'],
    ] as const) {
      const r = checkFile(path);
      expect(r.model).toBeUndefined();
      expect(r.diagnostics.map((d) => [d.code, d.line, d.col])).toEqual([[code, 1, 1]]);
      expect(r.diagnostics[0]!.message).toContain(path);
      expect(r.diagnostics[0]!.message).toContain(text);
    }
  });
});
