import { Module } from '@nestjs/common';
import { AssetsModule } from '../assets/assets.module';
import { ObservabilityModule } from '../observability/observability.module';
import { PackCatalog } from './pack-catalog';
import { RenderCancelSignals } from './render-cancel.signal';
import { DispatchTrigger, RenderChanges } from './render-changes';
import { RenderDispatcher } from './render.dispatcher';
import { RenderPreviewController } from './render-preview.controller';
import { RenderQueue } from './render.queue';
import { RenderQueueInfo } from './render-queue-info';
import { RenderRealtime } from './render.realtime';
import { RenderReconciler } from './render.reconciler';
import { RenderWorkerEvents } from './render-worker-events';
import { RenderFieldsResolver, RenderProgressResolver, RendersResolver } from './renders.resolver';
import { RendersService } from './renders.service';

/**
 * Renders (README "Renders"): the GraphQL API (estimateRender, createRender, cancelRender,
 * render, renders, renderUpdated, rendersUpdated), the fair admitter that moves renders from
 * Postgres to the BullMQ `render` queue, the handlers of the workers' render events, the
 * reconciler, cancel signals to workers and signed preview links.
 */
@Module({
  imports: [AssetsModule, ObservabilityModule],
  controllers: [RenderPreviewController],
  providers: [
    PackCatalog,
    RenderQueue,
    RenderQueueInfo,
    RenderRealtime,
    RenderCancelSignals,
    DispatchTrigger,
    RenderChanges,
    RenderDispatcher,
    RenderReconciler,
    RenderWorkerEvents,
    RendersService,
    RendersResolver,
    RenderFieldsResolver,
    RenderProgressResolver,
  ],
  exports: [RendersService],
})
export class RendersModule {}
