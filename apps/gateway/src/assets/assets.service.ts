import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { getPlan, type Plan } from '@likeness/billing';
import { DbError, type Asset, type AssetKind, type Db } from '@likeness/db';
import { ObjectNotFoundError, ObjectTooLargeError, type ObjectStorage } from '@likeness/storage';
import { DB } from '../infra/infra.module';
import { ForbiddenException, LikenessException } from '../errors/likeness.exception';
import {
  AssetInUseException,
  AssetNotFoundException,
  BadAssetException,
  UploadTooLargeException,
} from './asset.errors';
import {
  OBJECT_STORAGE,
  assetStorageKey,
  deleteAssetObject,
  withLocalFile,
} from './object-storage.provider';
import { probeMedia } from './probe';
import { sniffed, type MediaFormat } from './sniff';
import { SignedUrlService } from './signed-urls';

/** An upload as the transport hands it over: the file's bytes (null: an empty body). */
export interface UploadSource {
  bytes: AsyncIterable<Uint8Array> | null;
}

export interface TenantRef {
  id: string;
  plan: string;
}

export interface AssetDownloadStream {
  stream: Readable;
  mime: string;
  bytes: number;
  expiresAt: Date;
}

/**
 * Uploads, lookups, deletion and signed downloads of a tenant's media. The tenant always comes
 * from the caller's principal; another tenant's asset is NOT_FOUND.
 */
@Injectable()
export class AssetsService {
  private readonly logger = new Logger('Assets');

  constructor(
    @Inject(DB) private readonly db: Db,
    @Inject(OBJECT_STORAGE) private readonly storage: ObjectStorage,
    private readonly urls: SignedUrlService,
  ) {}

  /** The tenant's plan (libs/billing); an unknown plan is a data error, hence INTERNAL. */
  planOf(tenant: TenantRef): Plan {
    return getPlan(tenant.plan);
  }

  /**
   * Streams the file into storage under `tenants/<tenant>/assets/<new id>/original` through the
   * sniffer (format from magic bytes, refused as soon as it is known to be unsupported) with the
   * plan's byte limit, hashing on the way (libs/storage). Then probes the stored file, and only
   * then inserts the Asset row. On any failure the stored object is deleted: a refused upload
   * leaves neither a row nor a file.
   */
  async upload(tenant: TenantRef, source: UploadSource): Promise<Asset> {
    const plan = this.planOf(tenant);
    const id = randomUUID();
    const key = assetStorageKey(tenant.id, id);
    const sniff: { format?: MediaFormat } = {};
    try {
      const stored = await this.storage.put(
        key,
        sniffed(fromClient(source.bytes), (format) => (sniff.format = format)),
        { maxBytes: plan.maxUploadBytes },
      );
      const format = sniff.format;
      if (!format) throw new Error('the sniffer passed bytes on without naming a format');
      const probed = await withLocalFile(this.storage, key, (file) =>
        probeMedia(file, format, plan),
      );
      return await this.db.assets.create(tenant.id, {
        id,
        kind: probed.kind,
        mime: probed.mime,
        bytes: stored.bytes,
        sha256: stored.sha256,
        storageKey: key,
        probe: probed.probe,
      });
    } catch (error) {
      await this.discard(key);
      if (error instanceof ObjectTooLargeError)
        throw new UploadTooLargeException(plan.maxUploadBytes);
      throw error;
    }
  }

  findById(tenantId: string, id: string): Promise<Asset | null> {
    return this.db.assets.findById(tenantId, id);
  }

  /** Newest first; `afterId` is the last asset of the previous page. */
  list(
    tenantId: string,
    options: { first: number; afterId?: string; kind?: AssetKind },
  ): Promise<Asset[]> {
    return this.db.assets.list(tenantId, {
      first: options.first,
      ...(options.afterId !== undefined ? { before: options.afterId } : {}),
      ...(options.kind !== undefined ? { kind: options.kind } : {}),
    });
  }

  /**
   * Removes the row, then the stored object. NOT_FOUND for unknown or foreign ids, CONFLICT
   * while an avatar or render uses the asset (then nothing is removed).
   */
  async delete(tenantId: string, id: string): Promise<void> {
    const asset = await this.db.assets.findById(tenantId, id);
    if (!asset) throw new AssetNotFoundException('id');
    let removed: boolean;
    try {
      removed = await this.db.assets.delete(tenantId, id);
    } catch (error) {
      if (error instanceof DbError && error.code === 'CONFLICT') throw new AssetInUseException();
      throw error;
    }
    if (!removed) throw new AssetNotFoundException('id');
    await this.discard(asset.storageKey);
  }

  /**
   * Opens the object behind a signed URL: signature first (403 when forged), then expiry (410),
   * then the asset (404 once deleted).
   */
  async openSignedDownload(
    id: string,
    expires: unknown,
    sig: unknown,
  ): Promise<AssetDownloadStream> {
    await this.urls.requireValid(id, expires, sig);
    const asset = await this.db.assets.findForDownload(id);
    if (!asset) throw new AssetNotFoundException();
    if (asset.tenantStatus !== 'ACTIVE') {
      throw new ForbiddenException("The asset's tenant is suspended", 'TENANT_SUSPENDED');
    }
    let stream: Readable;
    try {
      stream = await this.storage.get(asset.storageKey);
    } catch (error) {
      if (error instanceof ObjectNotFoundError) throw new AssetNotFoundException();
      throw error;
    }
    return {
      stream,
      mime: asset.mime,
      bytes: asset.bytes,
      expiresAt: new Date(Number(expires) * 1000),
    };
  }

  /** Deletes a stored object; a failure is logged (the object is orphaned), never thrown. */
  private async discard(key: string): Promise<void> {
    try {
      await deleteAssetObject(this.storage, key);
    } catch (error) {
      this.logger.error(`could not delete stored object ${key}: ${String(error)}`);
    }
  }
}

/**
 * The client's bytes, with the client's own failures (connection reset, a malformed multipart
 * body) told apart from ours as BAD_USER_INPUT. Leaving early never destroys the request: the
 * gateway still answers, then closes the connection.
 */
async function* fromClient(source: AsyncIterable<Uint8Array> | null): AsyncGenerator<Uint8Array> {
  if (source === null) return;
  const iterator = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await iterator.next();
      } catch (error) {
        if (error instanceof LikenessException) throw error;
        throw new BadAssetException(
          `The upload could not be read to the end: ${error instanceof Error ? error.message : String(error)}`,
          'UPLOAD_INTERRUPTED',
        );
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    await iterator.return?.();
  }
}
