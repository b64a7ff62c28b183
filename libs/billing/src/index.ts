export * from './errors';
export * from './plans';
export * from './pricing';
