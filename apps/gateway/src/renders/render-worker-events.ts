import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { WorkerEventsService } from '../workers';
import { RenderCancelSignals } from './render-cancel.signal';
import { RenderChanges } from './render-changes';
import { decideWorkerEvent, type RenderWorkerEvent } from './render-transitions';

const RENDER_EVENT_TYPES = [
  'render.started',
  'render.progress',
  'render.clip-finished',
  'render.succeeded',
  'render.failed',
  'render.canceled',
  'render.requeued',
] as const satisfies readonly RenderWorkerEvent['type'][];

/**
 * The gateway's handlers of the workers' render events (the workers never write the database).
 * Each event becomes at most one change under the render's row lock (decideWorkerEvent): a
 * duplicate delivery, an event of an older run or admission, or one arriving after the render
 * finished changes nothing, so handling is idempotent and tolerates out-of-order delivery
 * across replicas. A throw (database down) leaves the event pending for a retry.
 */
@Injectable()
export class RenderWorkerEvents implements OnModuleInit {
  private readonly logger = new Logger('Renders');

  constructor(
    private readonly events: WorkerEventsService,
    private readonly changes: RenderChanges,
    private readonly signals: RenderCancelSignals,
  ) {}

  onModuleInit(): void {
    for (const type of RENDER_EVENT_TYPES) {
      this.events.on(type, (event) => this.handle(event));
    }
  }

  async handle(event: RenderWorkerEvent): Promise<void> {
    if (event.type === 'render.failed' && event.error.ourFault) {
      // The worker's own words stay in our logs; partners get publicWorkerError's message.
      this.logger.warn(
        `render ${event.renderId} failed on worker ${event.workerId} (attempt ${event.attempt}, ` +
          `${event.error.code}${event.willRetry ? ', will retry' : ''}): ${event.error.message}`,
      );
    }
    const render = await this.changes.apply(event.tenantId, event.renderId, (current) =>
      decideWorkerEvent(current, event),
    );
    // A run that starts after a cancel was requested hears about it again.
    if (render?.cancelRequestedAt && event.type === 'render.started') {
      await this.signals.send(render, 'CANCELED');
    }
  }
}
