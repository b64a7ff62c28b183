// Shared by this library's specs only (not exported from index.ts).
import { PipelineInputError } from './errors';

/** The `field` of the PipelineInputError that `fn` throws, or 'no error'. */
export function fieldOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof PipelineInputError) return e.field;
  }
  return 'no error';
}
