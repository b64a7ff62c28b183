export { ObservabilityModule } from './observability.module';
export { GatewayMetrics } from './metrics';
export { createLogger, PinoNestLogger, type GatewayLogger } from './logger';
export { GatewayLogController, registerHttpObservability } from './http-observability';
