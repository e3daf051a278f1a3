/** Shared set-up of the trainer's tests: the cpu backend with tfjs's gradients registered. */
import { initBackend } from '../../src/runtime/backend.js';

export async function useCpu(): Promise<void> {
  await initBackend('cpu');
}
