/**
 * The rigorous binary64 checker: bounds that are sound in floating point (docs/soundness.md),
 * the confirmation cascade for float32 verdicts, and loading a spec with a weight file for it
 * without TensorFlow.js computation (`vnet verify`, `vnet bounds`, `vnet check-certificates`).
 */
export { down, up, nextDown, nextUp, gamma } from './round.js';
export { rigorousNet, type RigorousNet } from './net.js';
export { rigorousMargins, inputBox, type RigorousMethod } from './bounds.js';
export { confirm, cascade, type Confirmation, type ConfirmCache } from './confirm.js';
export { loadRigorous, sampleConfirmer, sha256File, sha256Bytes, type LoadedRigorous } from './load.js';
export {
  checkCertificateFile,
  formatFailure,
  FLOAT32_TOLERANCE,
  type CheckReport,
  type Failure,
} from './check.js';
