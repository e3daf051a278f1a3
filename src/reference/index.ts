/**
 * The float64 reference interpreter of the IR (forward, IBP, LBP, CROWN-IBP, CROWN-LBP, CROWN),
 * used to test the generated tfjs code and to re-check claims in float64.
 */
export {
  compile,
  normalizeInPlace,
  type RefModel,
  type RefParams,
  type RefActOptions,
  type Step,
} from './net.js';
export { refForward, refBounds, refPreActivations, type RefBoundOptions, type RefBounds } from './bounds.js';
