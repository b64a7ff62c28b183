import { z } from 'zod';

/**
 * How the gateway asks workers to stop a running render (cancelRender, deadlines). Both names
 * are prefixed with the Redis prefix (`<prefix>:`), like the queues and the event stream:
 *
 * - the key `renderCancelKey(renderId)` holds a RenderCancelSignalV1 (JSON, expiring after a
 *   day): a worker checks it when it starts a render job (then it emits `render.canceled` at
 *   once) and may check it between steps;
 * - the same JSON is published on the channel `RENDER_CANCEL_CHANNEL`: a worker subscribed to
 *   it aborts the job with that `jobId` if it runs it (BullMQ `Worker.cancelJob(jobId, reason)`
 *   aborts the handler's AbortSignal with the reason `RENDER_CANCEL_REASON`).
 *
 * A worker that stops for a cancel emits `render.canceled` (not `render.failed`) and completes
 * the job normally, so BullMQ does not retry it. Aborts for other reasons (worker shutdown) must
 * not emit `render.canceled`.
 */
export const RENDER_CANCEL_CHANNEL = 'render-cancel';
export const RENDER_CANCEL_REASON = 'render-canceled';

export function renderCancelKey(renderId: string): string {
  return `render-cancel:${renderId}`;
}

export const RenderCancelSignalV1 = z.object({
  v: z.literal(1),
  tenantId: z.string().uuid(),
  renderId: z.string().uuid(),
  /** The admission attempt that was running; the job id is `renderJobId(renderId, attempt)`. */
  attempt: z.number().int().min(0),
  jobId: z.string().min(1).nullable(),
  reason: z.enum(['CANCELED', 'DEADLINE_EXCEEDED']),
  at: z.string().datetime({ offset: true }),
});
export type RenderCancelSignal = z.infer<typeof RenderCancelSignalV1>;
