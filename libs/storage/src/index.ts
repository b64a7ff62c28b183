export * from './errors';
export * from './object-storage';
export * from './local-directory-storage';
export * from './s3-object-storage';
export * from './storage-config';
