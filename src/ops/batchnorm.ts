/**
 * `batchnorm(eps, momentum, affine)`: BatchNorm over the channels of a map (BatchNorm2d) or the
 * features of a vector (BatchNorm1d), PyTorch's parameters and defaults (eps 1e-5, momentum 0.1):
 * y = (x − μ)/√(σ² + eps)·γ + β. In evaluation (every bound and verification) it is a fixed
 * per-channel affine map from the running statistics. In training (RunOptions.bnTrain) μ, σ² are
 * the batch statistics of the clean activations of the same batch, treated as constants in the
 * bound pass (auto_LiRPA's convention), and they update the running statistics
 * (running ← (1 − momentum)·running + momentum·batch, unbiased variance, as PyTorch).
 */
import { num as lit } from '../codegen/literal.js';
import { argSpec } from '../semantics/args.js';
import { bool, num } from '../semantics/values.js';
import { channelVector, numText, required } from './common.js';
import { windowCfg } from './conv2d.js';
import { opOf, type OpDef } from './op.js';

export const batchnorm: OpDef = {
  kind: 'batchnorm',
  rules: [
    {
      name: 'batchnorm',
      kind: 'batchnorm',
      args: [
        argSpec('eps', num({ min: 0, max: 1, minOpen: true }), {
          default: 1e-5,
          doc: 'added to the variance',
        }),
        argSpec('momentum', num({ min: 0, max: 1 }), {
          default: 0.1,
          doc: 'weight of the batch statistics in the running statistics',
        }),
        argSpec('affine', bool, { default: true, doc: 'learn a scale γ and shift β' }),
      ],
      arity: 1,
      example: 'batchnorm',
      doc: 'BatchNorm over channels (BatchNorm2d) or features (BatchNorm1d); eval: running statistics',
      infer: (a, [input]) => ({
        op: {
          kind: 'batchnorm',
          eps: a.values.get('eps') as number,
          momentum: a.values.get('momentum') as number,
          affine: a.values.get('affine') as boolean,
        },
        outShape: input!.shape,
      }),
      params(op, [inShape]) {
        const c = inShape![0]!;
        const stats = [
          { param: 'running_mean', role: 'bn.mean', torchShape: [c], fanIn: 1 },
          { param: 'running_var', role: 'bn.var', torchShape: [c], fanIn: 1 },
        ] as const;
        return opOf(op, 'batchnorm').affine
          ? [
              { param: 'weight', role: 'bn.weight', torchShape: [c], fanIn: 1 },
              { param: 'bias', role: 'bn.bias', torchShape: [c], fanIn: 1 },
              ...stats,
            ]
          : [...stats];
      },
    },
  ],
  text(op) {
    const bn = opOf(op, 'batchnorm');
    return {
      name: 'batchnorm',
      args: [
        ...(bn.eps === 1e-5 ? [] : [`eps: ${numText(bn.eps)}`]),
        ...(bn.momentum === 0.1 ? [] : [`momentum: ${numText(bn.momentum)}`]),
        ...(bn.affine ? [] : ['affine: false']),
      ],
    };
  },
  describe: (op) => `batchnorm(eps ${lit(opOf(op, 'batchnorm').eps)})`,
  config: (l) =>
    l.inShape.length === 3
      ? windowCfg(l, { kernel: [1, 1], stride: [1, 1], padding: [0, 0, 0, 0] })
      : { type: 'rt.Conv2dCfg | null', value: null },
  ref(l, param) {
    const bn = opOf(l.op, 'batchnorm');
    const mean = required(param('bn.mean'), `${l.name}.running_mean`);
    const v = required(param('bn.var'), `${l.name}.running_var`);
    const g = param('bn.weight');
    const beta = param('bn.bias');
    const C = mean.length;
    const scale = new Float64Array(C);
    const shift = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      scale[c] = (g ? g[c]! : 1) / Math.sqrt(v[c]! + bn.eps);
      shift[c] = (beta ? beta[c]! : 0) - mean[c]! * scale[c]!;
    }
    const n = l.inShape.reduce((a, b) => a * b, 1);
    const s = channelVector(scale, n);
    const W = new Float64Array(n * n);
    for (let i = 0; i < n; i++) W[i * n + i] = s[i]!;
    return { kind: 'linear', W: [W], b: channelVector(shift, n) };
  },
  aux: {
    type: 'rt.ChannelAffine',
    expr(e, x) {
      const bn = opOf(e.l.op, 'batchnorm');
      const w = e.param('bn.weight') ?? 'undefined';
      const b = e.param('bn.bias') ?? 'undefined';
      return `rt.bnAffine(${w}, ${b}, ${e.param('bn.mean')!}, ${e.param('bn.var')!}, ${lit(bn.eps)}, ${lit(bn.momentum)}, ${x}, o)`;
    },
  },
  emit: {
    forward: (e) => `rt.channelAffine(${e.inputs[0]}, ${e.aux})`,
    ibp: (e) => `rt.ibpChannel(${e.inputs[0]}, ${e.aux})`,
    lbp: (e) => `rt.lbpChannel(${e.inputs[0]}, ${e.aux}, ${e.cfg})`,
    back: (e, f) => [`rt.backChannel(${f}, ${e.aux}, ${e.cfg})`],
  },
};
