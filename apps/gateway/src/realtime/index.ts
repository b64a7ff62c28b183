export { EventBus } from './event-bus';
export { RealtimeModule } from './realtime.module';
export { TenantEvents } from './tenant-events';
