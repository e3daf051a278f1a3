/**
 * The runtime that generated modules call as `rt.X`: shared primitives for the clean forward pass
 * and the bound passes (IBP, LBP, CROWN backward), activation resolution and bounding lines, the
 * input set and margin specification, parameter init, plus the contract types and the layout
 * converter. Everything here is synchronous tfjs, differentiable, and leak-free inside tf.tidy.
 */
export * as tf from '@tensorflow/tfjs-core';
export * from './types.js';
export * from './module.js';
export * from './layout.js';
export * from './assemble.js';
export { tfNum, f64Num, type Num, type Val } from './num.js';
export {
  activate,
  boundLines,
  rampCases,
  R_MIN,
  type ActParams,
  type Lines,
  type RampCase,
} from './lines.js';
export {
  relu,
  leakyRelu,
  paramRamp,
  sigmoidAct,
  tanhAct,
  actForward,
  relax,
  type ActRelaxation,
} from './act.js';
export { inputBox, normalize, marginSpec } from './input.js';
export { dense, conv2d, flatten, convPad, denseOp, convOp, type LinOp } from './affine.js';
export { ibpInput, ibpDense, ibpConv2d, ibpFlatten, ibpAct, ibpLast, type IbpState } from './ibp.js';
export { lbpInput, lbpDense, lbpConv2d, lbpFlatten, lbpAct, lbpLast, type LbpState } from './lbp.js';
export {
  backLast,
  backDense,
  backConv2d,
  backFlatten,
  backAct,
  backConcretize,
  crownLayer,
  type BackState,
} from './back.js';
export { crownBudgetFloats, MemoryBudgetError } from './budget.js';
export { rngFromSeed, initParam, initTorchValues, type Rng } from './init.js';
export * from './train/index.js';
export {
  bnAffine,
  channelAffine,
  ibpChannel,
  lbpChannel,
  backChannel,
  ibpAdd,
  padMap,
  avgPool,
  ibpPositive,
  poolKernel,
  identityKernel,
  backWalk,
  type ChannelAffine,
  type BackStep,
} from './graph.js';
export { lbpAdd } from './lbp.js';
export { backSum, backNoConstant } from './back.js';
export {
  constAffine,
  concatValues,
  ibpConcat,
  lbpConcat,
  backConcat,
  permute,
  ibpPermute,
  lbpPermute,
  backPermute,
  permutationIndex,
  type ConstAffineCfg,
  type ConcatCfg,
  type PermuteCfg,
} from './linear-ops.js';
export {
  maxPool,
  ibpMaxPool,
  maxPoolRelax,
  lbpMaxPool,
  backMaxPool,
  type MaxPoolCfg,
  type PoolRelaxation,
} from './maxpool.js';
export { maxPoolLines, type PoolLines } from './maxpool-lines.js';
export { sShapeLines, S_BISECT_STEPS } from './sigmoid-lines.js';
