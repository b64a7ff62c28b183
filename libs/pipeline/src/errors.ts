/**
 * Thrown when a pipeline function is given an argument it cannot work with (non-finite, out of
 * range, wrong length …). `field` names the offending argument or option so callers can map the
 * error onto their own input (e.g. a GraphQL `BAD_USER_INPUT` with a path).
 */
export class PipelineInputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'PipelineInputError';
  }
}

/** `value` as a finite number > 0, or a PipelineInputError naming `field`. */
export function requirePositiveFinite(field: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new PipelineInputError(field, `must be a finite number, got ${String(value)}`);
  }
  if (value <= 0) throw new PipelineInputError(field, `must be > 0, got ${value}`);
  return value;
}

/** `value` as a safe integer ≥ `min`, or a PipelineInputError naming `field`. */
export function requireInteger(field: string, value: number, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new PipelineInputError(field, `must be a safe integer, got ${String(value)}`);
  }
  if (value < min) throw new PipelineInputError(field, `must be ≥ ${min}, got ${value}`);
  return value;
}
