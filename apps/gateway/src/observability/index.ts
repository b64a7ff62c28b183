export { ObservabilityModule } from './observability.module';
export { GatewayMetrics } from './metrics';
export { RenderMetrics } from './render-metrics';
export { createLogger, lazyChildLogger, PinoNestLogger, type GatewayLogger } from './logger';
export { GatewayLogController, registerHttpObservability } from './http-observability';
