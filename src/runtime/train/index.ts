/**
 * What generated trainers call as `rt.*` (re-exported by src/runtime/index.ts): the schedules,
 * the losses, the r re-initialisation and the types of the trainer contract. No file-system code
 * here: the run itself (run.ts) is loaded only by the `train` command.
 */
export {
  CROWN_BETA_MIN,
  betaMix,
  certifiedLoss,
  naturalCrossEntropy,
  naturalLoss,
  robustCrossEntropy,
} from './loss.js';
export type { LossParts } from './loss.js';
export { clampRamp, resetRamp } from './ramp.js';
export {
  clipGradients,
  ibpInit,
  ibpInitPlan,
  mtlIbpLoss,
  sabrBox,
  trainPgd,
  warmupRegularizer,
  warmupWeight,
  withRegularizer,
} from './recipes.js';
export {
  cleanEpochs,
  epsAt,
  etaAt,
  fullEpsEpoch,
  linearSchedule,
  lrAt,
  rampValue,
  smoothedSchedule,
  tiedToEps,
} from './schedule.js';
export type { EpochRamp } from './schedule.js';
export type {
  Batch,
  Schedule,
  StepState,
  TrainAttackFn,
  TrainConstants,
  TrainLoss,
  TrainRun,
} from './types.js';
