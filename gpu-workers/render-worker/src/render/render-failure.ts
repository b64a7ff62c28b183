import { WorkerFailureCode } from '@likeness/contracts';
import {
  FaceError,
  MediaToolError,
  PipelineInputError,
  UnsupportedByModelError,
} from '@likeness/pipeline';

/** A failure as the `render.failed` event carries it (its `error`). */
export interface RenderFailure {
  code: WorkerFailureCode;
  message: string;
  field?: string;
  retryable: boolean;
  ourFault: boolean;
}

/**
 * A render that cannot succeed as asked: the job fails without retries. `field` names the
 * createRender input at fault (avatarId, audioAssetId, maxSide, motion.expression …).
 */
export class RenderInputError extends Error {
  constructor(
    readonly code: typeof WorkerFailureCode.BadInput | typeof WorkerFailureCode.UnsupportedByModel,
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'RenderInputError';
  }
}

/** The gateway's deadline passed before the render could start. */
export class RenderDeadlineError extends Error {
  constructor(deadlineAt: string) {
    super(`the render's deadline (${deadlineAt}) passed before it started`);
    this.name = 'RenderDeadlineError';
  }
}

/**
 * The pipeline's names for its inputs → the createRender fields they come from (the avatar gives
 * the image, face and identity; the audio asset the audio).
 */
const FIELD_OF: Readonly<Record<string, string>> = {
  image: 'avatarId',
  faceBox: 'avatarId',
  faceKeypoints: 'avatarId',
  identity: 'avatarId',
  audio: 'audioAssetId',
  prompt: 'prompt',
  seed: 'seed',
  steps: 'steps',
  maxSide: 'maxSide',
  promptCfg: 'guidance.prompt',
  audioCfg: 'guidance.audio',
  expression: 'motion.expression',
  body: 'motion.body',
};

export function requestField(pipelineField: string): string {
  const head = pipelineField.split(/[.[]/)[0] ?? pipelineField;
  return FIELD_OF[head] ?? pipelineField;
}

/**
 * What a render's error means for the partner and for BullMQ. Bad input, an unsupported control,
 * an unusable avatar photo and a passed deadline are final; anything else (storage, Redis,
 * ffmpeg, onnxruntime, a pack this worker lacks) is infrastructure, retried while attempts
 * remain (`attemptsLeft`), then INTERNAL.
 */
export function classifyRenderError(error: unknown, attemptsLeft: boolean): RenderFailure {
  const message =
    (error instanceof Error ? error.message : String(error)).slice(0, 2000) || 'failed';
  if (error instanceof RenderInputError) {
    return { code: error.code, message, field: error.field, retryable: false, ourFault: false };
  }
  if (error instanceof UnsupportedByModelError) {
    return {
      code: WorkerFailureCode.UnsupportedByModel,
      message,
      field: requestField(error.field),
      retryable: false,
      ourFault: false,
    };
  }
  if (error instanceof PipelineInputError) {
    return {
      code: WorkerFailureCode.BadInput,
      message,
      field: requestField(error.field),
      retryable: false,
      ourFault: false,
    };
  }
  if (error instanceof FaceError) {
    return {
      code: WorkerFailureCode.BadInput,
      message: `the avatar's photo cannot be rendered (${error.code}): ${error.message}`.slice(
        0,
        2000,
      ),
      field: 'avatarId',
      retryable: false,
      ourFault: false,
    };
  }
  if (error instanceof RenderDeadlineError) {
    return { code: WorkerFailureCode.DeadlineExceeded, message, retryable: false, ourFault: true };
  }
  const tool = error instanceof MediaToolError ? ' (media tool)' : '';
  return attemptsLeft
    ? {
        code: WorkerFailureCode.Infrastructure,
        message: `${message}${tool}`,
        retryable: true,
        ourFault: true,
      }
    : {
        code: WorkerFailureCode.Internal,
        message: `${message}${tool}`,
        retryable: false,
        ourFault: true,
      };
}
