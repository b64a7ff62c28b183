import { Global, Module } from '@nestjs/common';
import { WorkerEventsService } from './worker-events.service';
import { WorkerRegistryService } from './worker-registry.service';
import { WorkersResolver } from './workers.resolver';

/**
 * The gateway's side of the render workers: the consumer of the `worker-events` stream
 * (modules register handlers per event type) and the registry of live workers and their model
 * packs (`modelPacks`). Global so that avatars, renders and others can inject both.
 */
@Global()
@Module({
  providers: [WorkerEventsService, WorkerRegistryService, WorkersResolver],
  exports: [WorkerEventsService, WorkerRegistryService],
})
export class WorkersModule {}
