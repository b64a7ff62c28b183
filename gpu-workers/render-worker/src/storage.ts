import path from 'node:path';
import { LocalDirectoryStorage, S3ObjectStorage, type ObjectStorage } from '@likeness/storage';
import type { WorkerConfig } from './config';

/**
 * The worker's object store, the same one the gateway uses: photos are read from it, previews
 * (and render outputs) written to it. `local`: `<LIKENESS_DATA_DIR>/storage`.
 */
export function createObjectStorage(
  config: Pick<WorkerConfig, 'dataDir' | 'storage'>,
): ObjectStorage {
  const storage = config.storage;
  switch (storage.driver) {
    case 'local':
      return new LocalDirectoryStorage(path.resolve(config.dataDir, 'storage'));
    case 's3':
      return new S3ObjectStorage({
        bucket: storage.bucket,
        region: storage.region,
        forcePathStyle: storage.forcePathStyle,
        ...(storage.endpoint !== null ? { endpoint: storage.endpoint } : {}),
        ...(storage.credentials !== null ? { credentials: storage.credentials } : {}),
        ...(storage.prefix !== null ? { prefix: storage.prefix } : {}),
      });
  }
}
