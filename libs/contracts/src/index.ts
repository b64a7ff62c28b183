export * from './errors';
export * from './queues';
export * from './jobs';
export * from './model-pack';
export * from './worker-events';
export * from './webhooks';
export * from './render-cancel';
