export * from './graph-builder';
export * from './reference/vae';
