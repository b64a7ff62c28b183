import { Inject, Injectable, Logger } from '@nestjs/common';
import { DbError, type Avatar, type Db } from '@likeness/db';
import type { ObjectStorage } from '@likeness/storage';
import { actorOf } from '../api-keys/api-keys.service';
import { AssetNotFoundException } from '../assets/asset.errors';
import { OBJECT_STORAGE, deleteAssetObject } from '../assets/object-storage.provider';
import type { Principal } from '../auth/principal';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { BadUserInputException } from '../errors/likeness.exception';
import { DB } from '../infra/infra.module';
import {
  AvatarInUseException,
  AvatarNotFoundException,
  AvatarNotReadyException,
} from './avatar.errors';
import { AvatarQueue } from './avatar.queue';
import { AvatarRealtime } from './avatar.realtime';
import type { CreateAvatarInput } from './avatar.model';
import { validateCreateAvatar } from './avatar.validation';

/** `user:<email>` or `api_key:<prefix>`: who, in words, for the consent record. */
function principalLabel(principal: Principal): Record<string, string> {
  return principal.kind === 'USER'
    ? { via: 'user', email: principal.email }
    : { via: 'api_key', apiKeyPrefix: principal.apiKeyPrefix, apiKeyName: principal.apiKeyName };
}

/**
 * Avatars of the caller's tenant: creation (consent recorded with the row, preparation queued
 * after the commit), lookups, similarity search and deletion. Preparation results arrive as
 * worker events (avatar-preparation.events.ts).
 */
@Injectable()
export class AvatarsService {
  private readonly logger = new Logger('Avatars');

  constructor(
    @Inject(DB) private readonly db: Db,
    @Inject(OBJECT_STORAGE) private readonly storage: ObjectStorage,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly queue: AvatarQueue,
    private readonly realtime: AvatarRealtime,
  ) {}

  /**
   * Checks the input and the photo (an IMAGE asset of the tenant), inserts the avatar
   * PROCESSING with the consent audit entry in one transaction, then enqueues `avatar.prepare`.
   * A failed enqueue does not fail the request: the row is committed and the sweeper queues it.
   */
  async create(principal: Principal, tenantId: string, input: CreateAvatarInput): Promise<Avatar> {
    const valid = validateCreateAvatar(input);
    const image = await this.db.assets.findById(tenantId, valid.imageAssetId);
    if (!image) throw new AssetNotFoundException('imageAssetId');
    if (image.kind !== 'IMAGE') {
      throw new BadUserInputException(
        'imageAssetId',
        `imageAssetId is an ${image.kind} asset; an avatar needs an IMAGE`,
      );
    }
    let avatar: Avatar;
    try {
      avatar = await this.db.avatars.create(
        tenantId,
        {
          name: valid.name,
          imageAssetId: image.id,
          faceIndex: valid.faceIndex,
          consentAttestation: valid.attestation,
          consentAt: new Date(),
          modelPack: this.config.avatars.modelPack,
        },
        { actor: actorOf(principal), data: { principal: principalLabel(principal) } },
      );
    } catch (error) {
      // The asset was deleted (or replaced) between the check above and the insert.
      if (error instanceof DbError && error.code === 'INVALID_REFERENCE') {
        throw new AssetNotFoundException('imageAssetId');
      }
      if (error instanceof DbError && error.code === 'INVALID_INPUT') {
        throw new BadUserInputException('imageAssetId', error.message);
      }
      throw error;
    }
    await this.queue.enqueue({
      v: 1,
      tenantId,
      avatarId: avatar.id,
      imageStorageKey: image.storageKey,
      faceIndex: avatar.faceIndex,
      modelPack: avatar.modelPack,
    });
    await this.realtime.changed(tenantId, avatar.id);
    return avatar;
  }

  findById(tenantId: string, id: string): Promise<Avatar | null> {
    return this.db.avatars.findById(tenantId, id);
  }

  /** Newest first; `afterId` is the last avatar of the previous page. */
  list(tenantId: string, options: { first: number; afterId?: string }): Promise<Avatar[]> {
    return this.db.avatars.list(tenantId, {
      first: options.first,
      ...(options.afterId !== undefined ? { before: options.afterId } : {}),
    });
  }

  /**
   * The tenant's avatars nearest to `avatarId` by cosine similarity of identity embeddings of
   * the same model (pgvector HNSW), best first. NOT_FOUND for unknown or foreign avatars,
   * CONFLICT for an avatar that is not READY (it has no embedding).
   */
  async similar(
    tenantId: string,
    avatarId: string,
    first: number,
  ): Promise<{ avatar: Avatar; similarity: number }[]> {
    const target = await this.db.avatars.findById(tenantId, avatarId);
    if (!target) throw new AvatarNotFoundException('avatarId');
    if (target.status !== 'READY') throw new AvatarNotReadyException(target.status);
    const matches = await this.db.avatars.similar(tenantId, target.id, first);
    const rows = new Map(
      (
        await this.db.avatars.findByIds(
          tenantId,
          matches.map((m) => m.avatarId),
        )
      ).map((a) => [a.id, a]),
    );
    return matches.flatMap((m) => {
      const avatar = rows.get(m.avatarId);
      return avatar ? [{ avatar, similarity: m.similarity }] : [];
    });
  }

  /** Model and dimension of the stored identity embedding, null without one. */
  async embeddingInfo(
    tenantId: string,
    avatarId: string,
  ): Promise<{ model: string; dim: number } | null> {
    return (await this.db.avatars.embeddingInfo(tenantId, [avatarId])).get(avatarId) ?? null;
  }

  /**
   * Deletes the avatar with its identity embedding and preview (row, then stored object); the
   * partner's photo asset stays (it is theirs: deleteAsset). NOT_FOUND for unknown or foreign
   * ids; CONFLICT while renders that use the avatar are not finished.
   */
  async delete(principal: Principal, tenantId: string, id: string): Promise<void> {
    let deleted;
    try {
      deleted = await this.db.avatars.delete(tenantId, id, { actor: actorOf(principal) });
    } catch (error) {
      if (error instanceof DbError && error.code === 'CONFLICT') {
        throw new AvatarInUseException(error.message);
      }
      throw error;
    }
    if (!deleted) throw new AvatarNotFoundException('id');
    if (deleted.previewStorageKey !== null) {
      await this.discardObject(deleted.previewStorageKey);
    }
    await this.queue.discard(id);
    await this.realtime.changed(tenantId, id);
  }

  /**
   * Deletes a stored object (and its now empty avatar folder in a local store); a failure is
   * logged (the object is orphaned), never thrown.
   */
  async discardObject(key: string): Promise<void> {
    try {
      await deleteAssetObject(this.storage, key);
    } catch (error) {
      this.logger.error(`could not delete stored object ${key}: ${String(error)}`);
    }
  }
}
