import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  RENDER_CANCEL_CHANNEL,
  RenderCancelSignalV1,
  renderCancelKey,
  renderJobId,
  type RenderCancelSignal,
} from '@likeness/contracts';
import type { Render as RenderRow } from '@likeness/db';
import type { Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { REDIS } from '../infra/infra.module';

/** How long a cancel request stays readable for a worker that starts the job later. */
const KEEP_SECONDS = 86_400;

/**
 * Tells render workers to stop a render (libs/contracts render-cancel.ts): the signal is SET
 * under `<prefix>:render-cancel:<renderId>` (a worker checks it when it starts the job and may
 * check it between steps) and PUBLISHed on `<prefix>:render-cancel` (a subscribed worker aborts
 * the job's AbortSignal at once).
 */
@Injectable()
export class RenderCancelSignals {
  private readonly logger = new Logger(RenderCancelSignals.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  /** Never throws: false (logged) when Redis did not take it; the reconciler sends it again. */
  async send(render: RenderRow, reason: RenderCancelSignal['reason']): Promise<boolean> {
    const signal = RenderCancelSignalV1.parse({
      v: 1,
      tenantId: render.tenantId,
      renderId: render.id,
      attempt: render.attempts,
      jobId: render.attempts > 0 ? renderJobId(render.id, render.attempts) : null,
      reason,
      at: new Date().toISOString(),
    });
    const json = JSON.stringify(signal);
    const prefix = this.config.redisPrefix;
    try {
      await this.redis.set(`${prefix}:${renderCancelKey(render.id)}`, json, 'EX', KEEP_SECONDS);
      await this.redis.publish(`${prefix}:${RENDER_CANCEL_CHANNEL}`, json);
      return true;
    } catch (error) {
      this.logger.warn(`could not signal the cancel of render ${render.id}: ${String(error)}`);
      return false;
    }
  }
}
