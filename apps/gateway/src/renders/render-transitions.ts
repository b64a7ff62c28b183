// How a render's state changes: pure functions from the locked row (and a worker event, a
// cancel, a deadline …) to the change to write, or null to leave the render as it is. The
// worker-event ones are what makes handling idempotent and tolerant of out-of-order delivery.
import {
  WebhookEventType,
  renderMediaPrefix,
  type RenderPhase as WorkerPhase,
  type WorkerEventOf,
} from '@likeness/contracts';
import { billableVideoSeconds } from '@likeness/billing';
import type { JsonObject, Render as RenderRow, RenderChange } from '@likeness/db';
import { isFinished } from './render-view';

export type RenderWorkerEvent = WorkerEventOf<
  | 'render.started'
  | 'render.progress'
  | 'render.clip-finished'
  | 'render.succeeded'
  | 'render.failed'
  | 'render.canceled'
  | 'render.requeued'
>;

/** The unit of the usage ledger rows of renders. */
export const USAGE_UNIT = 'video_second';

/** Error codes the gateway itself records (besides the workers' WorkerFailureCode). */
export const GatewayFailure = {
  DeadlineExceeded: 'DEADLINE_EXCEEDED',
  WorkerLost: 'WORKER_LOST',
  JobLost: 'INTERNAL',
  AvatarGone: 'BAD_INPUT',
} as const;

/**
 * Whether a worker event applies to the render as it is now, and whether it starts a new run:
 * events of another admission (attempt), of a render that is finished or waiting to be
 * admitted again, already applied (same run, seq not newer) or of a run older than the
 * current one are ignored. A run other than the current one is adopted only by its
 * `render.started` (not older than the current run's start) or when no run is current: a worker
 * that lost its job but keeps reporting cannot take the render back.
 */
export function acceptWorkerEvent(
  current: RenderRow,
  event: RenderWorkerEvent,
): { newRun: boolean } | null {
  if (isFinished(current.status)) return null;
  if (current.admittedAt === null || event.attempt !== current.attempts) return null;
  if (current.runId === event.run) return event.seq > current.runSeq ? { newRun: false } : null;
  if (current.runId === null) return { newRun: true };
  if (event.type !== 'render.started') return null;
  if (current.runAt !== null && new Date(event.at).getTime() < current.runAt.getTime()) return null;
  return { newRun: true };
}

function runPatch(current: RenderRow, event: RenderWorkerEvent, newRun: boolean, now: Date) {
  const at = new Date(event.at);
  return {
    runId: event.run,
    runSeq: event.seq,
    workerId: event.workerId,
    lastEventAt: now,
    ...(newRun ? { runAt: at, runs: current.runs + 1, startedAt: current.startedAt ?? at } : {}),
  };
}

function inMediaFolder(current: RenderRow, key: string): boolean {
  const prefix = renderMediaPrefix(current.tenantId, current.id);
  return key.startsWith(prefix) && !key.slice(prefix.length).split('/').includes('..');
}

function statusFor(phase: WorkerPhase): 'RUNNING' | 'ENCODING' {
  return phase === 'encoding' || phase === 'uploading' ? 'ENCODING' : 'RUNNING';
}

/** The charged seconds and cents of a finished video: never more than quoted. */
export function chargeFor(
  current: RenderRow,
  durationSeconds: number,
): { billedSeconds: number; costCents: number } {
  const billedSeconds = Math.min(billableVideoSeconds(durationSeconds), current.billedSeconds);
  const costCents =
    current.billedSeconds > 0
      ? Math.round((current.quotedCents * billedSeconds) / current.billedSeconds)
      : 0;
  return { billedSeconds, costCents };
}

/** The change a worker event makes, or null (see acceptWorkerEvent). */
export function decideWorkerEvent(
  current: RenderRow,
  event: RenderWorkerEvent,
  now: Date = new Date(),
): RenderChange | null {
  const accepted = acceptWorkerEvent(current, event);
  if (!accepted) return null;
  const run = runPatch(current, event, accepted.newRun, now);
  const progress = (current.progress ?? {}) as JsonObject;
  switch (event.type) {
    case 'render.started':
      return {
        eventType: 'render.started',
        patch: {
          ...run,
          status: 'RUNNING',
          progress: {
            phase: 'preparing',
            clip: event.resumedFromClip,
            clips: event.clips,
            step: 0,
            totalSteps: 0,
            fraction: event.resumedFromClip / event.clips,
            etaSeconds: null,
            // The pack version this run uses (workers before the field send none).
            ...(event.packVersion !== undefined ? { packVersion: event.packVersion } : {}),
          },
        },
      };
    case 'render.progress': {
      const status = statusFor(event.phase);
      const previewKey =
        event.previewKey !== undefined && inMediaFolder(current, event.previewKey)
          ? event.previewKey
          : typeof progress['previewKey'] === 'string'
            ? progress['previewKey']
            : null;
      return {
        eventType:
          status === 'ENCODING' && current.status !== 'ENCODING'
            ? 'render.encoding'
            : current.status === 'QUEUED'
              ? 'render.started'
              : 'render.progress',
        patch: {
          ...run,
          status,
          progress: {
            phase: event.phase,
            clip: event.clip,
            clips: event.clips,
            step: event.step,
            totalSteps: event.totalSteps,
            fraction: event.fraction,
            etaSeconds: event.etaSeconds,
            previewKey,
            ...(typeof progress['packVersion'] === 'string'
              ? { packVersion: progress['packVersion'] }
              : {}),
          },
        },
      };
    }
    case 'render.clip-finished': {
      const fraction = Math.max(
        typeof progress['fraction'] === 'number' ? progress['fraction'] : 0,
        (event.clip + 1) / event.clips,
      );
      // Not the last clip: the next clip is what runs now, from its first phase and step (never
      // "decoding, clip 2, step 20" before clip 2 began). The last clip: what follows is the
      // video's encoding, which the worker reports itself (`render.progress` encoding); phase
      // and step stay as reported.
      const where: JsonObject =
        event.clip + 1 < event.clips
          ? { phase: 'denoising', clip: event.clip + 1, step: 0 }
          : {
              phase: typeof progress['phase'] === 'string' ? progress['phase'] : 'encoding',
              clip: event.clips,
            };
      return {
        eventType: 'render.clip-finished',
        patch: {
          ...run,
          status: current.status === 'ENCODING' ? 'ENCODING' : 'RUNNING',
          progress: { ...progress, ...where, clips: event.clips, fraction },
        },
      };
    }
    case 'render.succeeded': {
      const { output } = event;
      if (!inMediaFolder(current, output.storageKey) || !inMediaFolder(current, output.posterKey)) {
        // A worker bug (or worse): never link a file outside the render's own folder.
        return fail(current, run, now, {
          code: 'INTERNAL',
          message: 'The worker stored the video in the wrong place',
          ourFault: true,
        });
      }
      const charge = chargeFor(current, output.durationSeconds);
      return {
        eventType: 'render.succeeded',
        patch: {
          ...run,
          status: 'SUCCEEDED',
          progress: null,
          error: null,
          finishedAt: now,
          identityScore: event.identityScore,
          billedSeconds: charge.billedSeconds,
          costCents: charge.costCents,
        },
        outputAsset: {
          kind: 'VIDEO',
          mime: output.mime,
          bytes: output.bytes,
          sha256: output.sha256,
          storageKey: output.storageKey,
          probe: {
            durationSeconds: output.durationSeconds,
            width: output.width,
            height: output.height,
            fps: output.fps,
            frames: output.frames,
            posterKey: output.posterKey,
            modelSeconds: event.modelSeconds,
            // The pack version that made the video (the render's modelPackVersion is the one
            // it was validated against; workers refuse to run another one when told it).
            ...(event.packVersion !== undefined ? { modelPackVersion: event.packVersion } : {}),
          },
        },
        usage: { quantity: charge.billedSeconds, unit: USAGE_UNIT },
      };
    }
    case 'render.failed': {
      const error = publicWorkerError(event.error, current.id);
      if (event.willRetry) {
        return {
          eventType: 'render.retrying',
          patch: { ...run, status: 'QUEUED', progress: null, error: { ...error, willRetry: true } },
        };
      }
      return fail(current, run, now, error);
    }
    case 'render.canceled':
      return cancelNow(current, now, run);
    case 'render.requeued':
      // The worker stopped (shutdown) and put the job back in the waiting list, same admission:
      // queued again, still admitted (no new attempt), until the next run's render.started.
      return {
        eventType: 'render.requeued',
        patch: { ...run, status: 'QUEUED', progress: null },
      };
  }
}

/** Worker failure codes whose message is the worker's own (a path, a runtime's words). */
const INTERNAL_WORKER_CODES = new Set(['INTERNAL', 'INFRASTRUCTURE']);

/**
 * What partners see of a worker's failure (`Render.error`, webhooks): input problems keep the
 * worker's message, which is written for them and names the field; our own failures
 * (INFRASTRUCTURE, INTERNAL) get a fixed message with the render id to quote, never the worker's
 * text, which can hold paths, hosts or runtime internals (it is logged by RenderWorkerEvents).
 */
export function publicWorkerError<E extends { code: string; message: string; field?: string }>(
  error: E,
  renderId: string,
): E {
  if (!INTERNAL_WORKER_CODES.has(error.code)) return error;
  const rest: E = { ...error };
  delete rest.field;
  return {
    ...rest,
    message:
      error.code === 'INFRASTRUCTURE'
        ? `The render hit a problem on our side and is retried; quote render ${renderId} to support if it persists.`
        : `The render failed on our side and costs nothing; quote render ${renderId} to support.`,
  } as E;
}

function fail(
  current: RenderRow,
  run: Partial<RenderChange['patch']>,
  now: Date,
  error: { code: string; message: string; field?: string; ourFault: boolean },
): RenderChange {
  return {
    eventType: 'render.failed',
    patch: {
      ...run,
      status: 'FAILED',
      progress: null,
      finishedAt: now,
      // Failures cost nothing (ours by policy, the partner's because nothing was delivered).
      billedSeconds: 0,
      costCents: 0,
      error: {
        code: error.code,
        message: error.message,
        ...(error.field !== undefined ? { field: error.field } : {}),
        ourFault: error.ourFault,
      },
    },
  };
}

/** Fails an unfinished render for a reason of the gateway's (deadline, lost job …). */
export function decideFail(
  current: RenderRow,
  error: { code: string; message: string; field?: string; ourFault: boolean },
  now: Date = new Date(),
): RenderChange | null {
  if (isFinished(current.status)) return null;
  return fail(current, {}, now, error);
}

/** CANCELED at once, free: a render no worker runs (or whose worker confirmed). */
export function cancelNow(
  current: RenderRow,
  now: Date = new Date(),
  run: Partial<RenderChange['patch']> = {},
): RenderChange | null {
  if (isFinished(current.status)) return null;
  return {
    eventType: 'render.canceled',
    patch: {
      ...run,
      status: 'CANCELED',
      progress: null,
      finishedAt: now,
      billedSeconds: 0,
      costCents: 0,
      cancelRequestedAt: current.cancelRequestedAt ?? now,
    },
  };
}

/** Records a cancel request for a render a worker may be running (it stops between steps). */
export function requestCancel(current: RenderRow, now: Date = new Date()): RenderChange | null {
  if (isFinished(current.status) || current.cancelRequestedAt !== null) return null;
  return { eventType: 'render.cancel-requested', patch: { cancelRequestedAt: now } };
}

/**
 * Back to the waiting line (its worker was lost, or its job vanished for good): the admitter
 * admits it again as a new attempt, ahead of the tenant's younger renders. Null if finished or
 * already waiting.
 */
export function requeue(
  current: RenderRow,
  reason: { code: string; message: string },
): RenderChange | null {
  if (isFinished(current.status) || current.admittedAt === null) return null;
  return {
    eventType: 'render.requeued',
    patch: {
      status: 'QUEUED',
      admittedAt: null,
      progress: null,
      runId: null,
      runSeq: -1,
      workerId: null,
      error: { ...reason, ourFault: true, willRetry: true },
    },
  };
}

/** The webhook event a RenderEvent type is reported as (null: none). */
export function webhookFor(eventType: string): WebhookEventType | null {
  switch (eventType) {
    case 'render.succeeded':
      return WebhookEventType.RenderSucceeded;
    case 'render.failed':
      return WebhookEventType.RenderFailed;
    case 'render.canceled':
      return WebhookEventType.RenderCanceled;
    case 'render.started':
    case 'render.encoding':
    case 'render.retrying':
    case 'render.requeued':
      return WebhookEventType.RenderUpdated;
    default:
      return null;
  }
}
