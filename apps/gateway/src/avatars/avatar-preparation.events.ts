import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import sharp, { type Metadata } from 'sharp';
import {
  AvatarFailureReason,
  WebhookEventType,
  avatarMediaPrefix,
  workerEventKey,
  type WorkerEventOf,
} from '@likeness/contracts';
import type { Avatar, Db, JsonObject, JsonValue } from '@likeness/db';
import { ObjectNotFoundError, type ObjectStorage } from '@likeness/storage';
import { OBJECT_STORAGE } from '../assets/object-storage.provider';
import { DB } from '../infra/infra.module';
import { WebhooksService, type WebhookEmission } from '../webhooks';
import { WorkerEventsService } from '../workers';
import { toAvatarNode } from './avatar.model';
import { AvatarRealtime } from './avatar.realtime';
import { AvatarsService } from './avatars.service';

type Prepared = WorkerEventOf<'avatar.prepared'>;
type Failed = WorkerEventOf<'avatar.failed'>;

/** A preview is a small JPEG (256 px); anything this large is a worker bug, not a preview. */
const MAX_PREVIEW_BYTES = 5 * 1024 * 1024;
const PREVIEW_MIME: Readonly<Record<string, string>> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
};

/** What partners read when the failure is ours. */
export const INTERNAL_FAILURE_MESSAGE =
  'The avatar could not be prepared (our failure, not billed); please create it again';

/** The worker's report cannot be used as it is: the avatar fails with INTERNAL (our fault). */
class UnusableReport extends Error {}

/**
 * Applies the workers' avatar results (DESIGN.md: the gateway does every write). `avatar.prepared`
 * makes the avatar READY with its face, a preview asset and the identity embedding;
 * `avatar.failed` (when the job will not run again) makes it FAILED with the reason. Both are
 * idempotent and order-tolerant: only a PROCESSING avatar changes, under a row lock, so the
 * first terminal event wins and duplicates, stale runs and events for deleted avatars change
 * nothing (a losing run's preview object is deleted). Webhooks `avatar.ready` / `avatar.failed`
 * are written in the same transaction.
 */
@Injectable()
export class AvatarPreparationEvents implements OnModuleInit {
  private readonly logger = new Logger('Avatars');

  constructor(
    private readonly events: WorkerEventsService,
    @Inject(DB) private readonly db: Db,
    @Inject(OBJECT_STORAGE) private readonly storage: ObjectStorage,
    private readonly webhooks: WebhooksService,
    private readonly realtime: AvatarRealtime,
    private readonly avatars: AvatarsService,
  ) {}

  onModuleInit(): void {
    this.events.on('avatar.prepared', (event) => this.prepared(event));
    this.events.on('avatar.failed', (event) => this.failed(event));
  }

  async prepared(event: Prepared): Promise<void> {
    const { tenantId, avatarId } = event;
    const current = await this.db.avatars.findById(tenantId, avatarId);
    if (current?.status !== 'PROCESSING') return this.ignore(event, current);
    let preview: PreviewFacts;
    try {
      if (!event.previewKey.startsWith(avatarMediaPrefix(tenantId, avatarId))) {
        throw new UnusableReport(`the preview ${event.previewKey} is outside the avatar's folder`);
      }
      if (event.embedding.values.length !== event.embedding.dim) {
        throw new UnusableReport(
          `the embedding has ${event.embedding.values.length} values, dim says ${event.embedding.dim}`,
        );
      }
      preview = await this.readPreview(event.previewKey);
    } catch (error) {
      if (!(error instanceof UnusableReport)) throw error; // storage trouble: retried
      this.logger.error(
        `avatar ${avatarId}: unusable worker report ${workerEventKey(event)}: ${error.message}`,
      );
      await this.fail(tenantId, avatarId, {
        reason: AvatarFailureReason.Internal,
        message: INTERNAL_FAILURE_MESSAGE,
        faces: null,
      });
      return;
    }
    let emission: WebhookEmission | undefined;
    const result = await this.db.avatars.markPrepared(
      tenantId,
      avatarId,
      {
        faceBox: event.face.box,
        keypoints: event.face.keypoints,
        preview: { ...preview, storageKey: event.previewKey },
        embedding: { model: event.embedding.model, vector: event.embedding.values },
      },
      {
        inTransaction: async (tx, avatar) => {
          emission = await this.webhooks.emit(tx, tenantId, WebhookEventType.AvatarReady, {
            avatar: webhookAvatar(avatar, {
              identityEmbedding: { model: event.embedding.model, dim: event.embedding.dim },
            }),
          });
        },
      },
    );
    if (!result.applied) return this.ignore(event, result.avatar);
    await emission?.enqueue();
    await this.realtime.changed(tenantId, avatarId);
  }

  async failed(event: Failed): Promise<void> {
    if (event.willRetry) {
      // The job runs again (infrastructure trouble); the avatar stays PROCESSING.
      this.logger.warn(
        `avatar ${event.avatarId}: attempt ${event.attempt} failed, will retry: ${event.message}`,
      );
      return;
    }
    const ours = event.reason === AvatarFailureReason.Internal;
    // Our own failures are logged with the worker's words; partners read a plain message.
    if (ours) this.logger.error(`avatar ${event.avatarId} failed on the worker: ${event.message}`);
    await this.fail(event.tenantId, event.avatarId, {
      reason: event.reason,
      message: ours ? INTERNAL_FAILURE_MESSAGE : event.message,
      faces: event.faces ?? null,
    });
  }

  /**
   * PROCESSING → FAILED with the `avatar.failed` webhook in the same transaction, then the
   * realtime notice. False when the avatar was not PROCESSING (nothing changed).
   */
  async fail(
    tenantId: string,
    avatarId: string,
    failure: { reason: AvatarFailureReason; message: string; faces: JsonValue | null },
  ): Promise<boolean> {
    let emission: WebhookEmission | undefined;
    const result = await this.db.avatars.markFailed(tenantId, avatarId, failure, {
      inTransaction: async (tx, avatar) => {
        emission = await this.webhooks.emit(tx, tenantId, WebhookEventType.AvatarFailed, {
          avatar: webhookAvatar(avatar),
        });
      },
    });
    if (!result.applied) return false;
    await emission?.enqueue();
    await this.realtime.changed(tenantId, avatarId);
    return true;
  }

  /**
   * A prepared event that changed nothing (duplicate, stale run, deleted avatar): its preview
   * object goes unless it is the one the avatar keeps.
   */
  private async ignore(event: Prepared, avatar: Avatar | null): Promise<void> {
    if (!event.previewKey.startsWith(avatarMediaPrefix(event.tenantId, event.avatarId))) return;
    if (avatar?.previewAssetId) {
      const kept = await this.db.assets.findById(event.tenantId, avatar.previewAssetId);
      if (kept?.storageKey === event.previewKey) return;
    }
    await this.avatars.discardObject(event.previewKey);
  }

  /** Reads the preview the worker stored: sha256, size and format, from the bytes. */
  private async readPreview(key: string): Promise<PreviewFacts> {
    let stream;
    try {
      stream = await this.storage.get(key);
    } catch (error) {
      // Not (yet) visible: throw, so the event is delivered again later.
      if (error instanceof ObjectNotFoundError) throw new Error(`preview ${key} not found`);
      throw error;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > MAX_PREVIEW_BYTES) {
        stream.destroy();
        throw new UnusableReport(`the preview is larger than ${MAX_PREVIEW_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
    const bytes = Buffer.concat(chunks);
    let meta: Metadata;
    try {
      meta = await sharp(bytes).metadata();
    } catch (error) {
      throw new UnusableReport(`the preview is not an image: ${String(error)}`);
    }
    const mime = meta.format !== undefined ? PREVIEW_MIME[meta.format] : undefined;
    if (mime === undefined || !meta.width || !meta.height) {
      throw new UnusableReport(`the preview is ${meta.format ?? 'an unknown format'}`);
    }
    return {
      mime,
      bytes: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      probe: { width: meta.width, height: meta.height },
    };
  }
}

interface PreviewFacts {
  mime: string;
  bytes: number;
  sha256: string;
  probe: JsonObject;
}

/** The avatar as webhook bodies carry it (`data.avatar`). */
function webhookAvatar(avatar: Avatar, extra: JsonObject = {}): JsonObject {
  const node = toAvatarNode(avatar);
  return {
    id: node.id,
    name: node.name,
    status: node.status,
    modelPack: node.modelPack,
    face: node.face
      ? { box: { ...node.face.box }, keypoints: node.face.keypoints.map((p) => ({ ...p })) }
      : null,
    previewAssetId: node.previewAssetId,
    failure: node.failure
      ? {
          reason: node.failure.reason,
          message: node.failure.message,
          field: node.failure.field,
          faces:
            node.failure.faces?.map((f) => ({
              index: f.index,
              box: { ...f.box },
              keypoints: f.keypoints.map((p) => ({ ...p })),
              score: f.score,
            })) ?? null,
        }
      : null,
    updatedAt: node.updatedAt.toISOString(),
    ...extra,
  };
}
