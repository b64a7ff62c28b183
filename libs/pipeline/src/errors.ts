import { ErrorCode } from '@likeness/contracts';

/**
 * Thrown when a pipeline function is given an argument it cannot work with (non-finite, out of
 * range, wrong length …). `field` names the offending argument or option so callers can map the
 * error onto their own input (e.g. a GraphQL `BAD_USER_INPUT` with a path).
 */
export class PipelineInputError extends Error {
  /** The public error code this maps to. */
  readonly code: ErrorCode = ErrorCode.BAD_USER_INPUT;

  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'PipelineInputError';
  }
}

/**
 * A request asks for a control the model pack does not have (expression/body without `motion`,
 * an identity embedding without `identity`). Never silently ignored (DESIGN.md request flow 4).
 */
export class UnsupportedByModelError extends PipelineInputError {
  override readonly code: ErrorCode = ErrorCode.UNSUPPORTED_BY_MODEL;

  constructor(field: string, pack: string, capability: string) {
    super(field, `model pack "${pack}" has no ${capability} capability`);
    this.name = 'UnsupportedByModelError';
  }
}

/** Why a model pack was refused or a stage failed. */
export type ModelPackProblem =
  /** model-pack.json is missing, unreadable or fails `validateManifest`. */
  | 'manifest'
  /** A stage's .onnx file is missing. */
  | 'file'
  /** onnxruntime could not create the stage's session. */
  | 'session'
  /** The graph's real inputs/outputs disagree with the manifest. */
  | 'graph-mismatch'
  /** The manifest declares an input the pipeline does not know how to produce. */
  | 'unknown-input'
  /** The manifest is missing an input or output the pipeline needs, or sizes do not fit. */
  | 'contract'
  /** A stage failed or returned something other than its manifest promises at run time. */
  | 'run';

/**
 * A model pack the pipeline cannot use, or a stage that misbehaved. Names the stage and the
 * tensor when there is one. Not the caller's fault: maps to INTERNAL.
 */
export class ModelPackError extends Error {
  readonly code: ErrorCode = ErrorCode.INTERNAL;

  constructor(
    readonly problem: ModelPackProblem,
    message: string,
    readonly stage?: string,
    readonly tensor?: string,
  ) {
    super(`${stage ? `stage ${stage}${tensor ? `, tensor "${tensor}"` : ''}: ` : ''}${message}`);
    this.name = 'ModelPackError';
  }
}

/** The render's AbortSignal fired; the pipeline stopped between steps. */
export class RenderCanceled extends Error {
  constructor(
    readonly clip: number,
    readonly step: number,
  ) {
    super(`render canceled (clip ${clip}, step ${step})`);
    this.name = 'RenderCanceled';
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

/** `value` as a finite number in [min, max], or a PipelineInputError naming `field`. */
export function requireInRange(field: string, value: number, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new PipelineInputError(field, `must be a finite number, got ${String(value)}`);
  }
  if (value < min || value > max) {
    throw new PipelineInputError(field, `must be in [${min}, ${max}], got ${value}`);
  }
  return value;
}
