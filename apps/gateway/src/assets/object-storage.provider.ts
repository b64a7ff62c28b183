import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, rmdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { OnModuleDestroy, Provider } from '@nestjs/common';
import {
  createObjectStorage,
  LocalDirectoryStorage,
  type ObjectStorage,
  S3ObjectStorage,
  s3StorageOptions,
  storageRoot,
} from '@likeness/storage';
import { APP_CONFIG, type AppConfig } from '../config/config';

/**
 * The gateway's object store (libs/storage), chosen by `STORAGE_DRIVER`: a local directory,
 * `<LIKENESS_DATA_DIR>/storage` (the default), or an S3 bucket (AWS or S3-compatible). Both are
 * an `ObjectStorage` behind this one token, so nothing that injects it changes.
 */
export const OBJECT_STORAGE = Symbol('OBJECT_STORAGE');

export const objectStorageProvider: Provider = {
  provide: OBJECT_STORAGE,
  inject: [APP_CONFIG],
  useFactory: (config: AppConfig): ObjectStorage =>
    config.storage.driver === 'local'
      ? createObjectStorage(config.storage, config.dataDir)
      : new GatewayS3Storage(s3StorageOptions(config.storage)),
};

/** Closes the S3 client's pooled connections when the gateway shuts down. */
class GatewayS3Storage extends S3ObjectStorage implements OnModuleDestroy {
  onModuleDestroy(): void {
    this.destroy();
  }
}

export { storageRoot };

/** `tenants/<tenantId>/assets/<assetId>/original`: the stored upload, as sent. */
export function assetStorageKey(tenantId: string, assetId: string): string {
  return `tenants/${tenantId}/assets/${assetId}/original`;
}

/**
 * Runs `fn` with a local file holding the object (ffprobe needs a seekable file: MP4/M4A keep
 * their index at the end). A local-directory store already has one: its documented layout is
 * `<rootDir>/<key>`. Any other store's object is copied to a temporary file first, removed after.
 */
export async function withLocalFile<T>(
  storage: ObjectStorage,
  key: string,
  fn: (file: string) => Promise<T>,
): Promise<T> {
  if (storage instanceof LocalDirectoryStorage) {
    return fn(path.join(storage.rootDir, ...key.split('/')));
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'likeness-asset-'));
  try {
    const file = path.join(dir, 'object');
    await pipeline(await storage.get(key), createWriteStream(file, { flags: 'wx' }));
    return await fn(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Deletes a stored upload and, in a local-directory store, its now empty `<assetId>` directory
 * (the store leaves parents in place because other keys may be written under them; no other
 * key is ever written under a fresh asset id). True if an object was removed.
 */
export async function deleteAssetObject(storage: ObjectStorage, key: string): Promise<boolean> {
  const removed = await storage.delete(key);
  if (storage instanceof LocalDirectoryStorage) {
    const dir = path.dirname(path.join(storage.rootDir, ...key.split('/')));
    await rmdir(dir).catch((error: unknown) => {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
    });
  }
  return removed;
}
