export { WorkersModule } from './workers.module';
export {
  WorkerEventsService,
  WORKER_EVENTS_GROUP,
  MAX_DELIVERIES,
  WORKER_EVENTS_CONCURRENCY,
  groupState,
  type WorkerEventHandler,
  type WorkerEventDelivery,
} from './worker-events.service';
export { WorkerRegistryService, type PackInfo } from './worker-registry.service';
