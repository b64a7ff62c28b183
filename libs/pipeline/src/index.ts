export * from './errors';
export * from './frame-plan';
export * from './scheduler';
export * from './guidance';
export * from './seeded-noise';
