import type { DbContext } from '../db';
import type { Prisma } from '../prisma';
import type { ModelPackRecord } from '../types';
import { jsonObject } from './mappers';

type ModelPackRow = Prisma.ModelPackGetPayload<object>;

function toModelPack(row: ModelPackRow): ModelPackRecord {
  const c = jsonObject(row.capabilities);
  return {
    name: row.name,
    version: row.version,
    capabilities: {
      identity: c['identity'] === true,
      motion: c['motion'] === true,
      maxSide: typeof c['maxSide'] === 'number' ? c['maxSide'] : 0,
    },
    fps: row.fps,
    maxFramesPerClip: row.maxFramesPerClip,
    lastSeenAt: row.lastSeenAt,
  };
}

/**
 * Model packs as live workers last advertised them (platform data, not tenant-owned): renders
 * for a pack whose workers have scaled to zero are still validated against it and queued.
 */
export class ModelPackRepository {
  constructor(private readonly ctx: DbContext) {}

  /** Records (or refreshes) what workers advertise now (atomic upserts: replicas may race). */
  async remember(packs: readonly Omit<ModelPackRecord, 'lastSeenAt'>[], now = new Date()) {
    for (const pack of packs) {
      const capabilities = JSON.stringify({ ...pack.capabilities });
      await this.ctx.app().$executeRaw`
        INSERT INTO model_packs (name, version, capabilities, fps, max_frames_per_clip, last_seen_at)
        VALUES (${pack.name}, ${pack.version}, ${capabilities}::jsonb, ${pack.fps},
                ${pack.maxFramesPerClip}, ${now}::timestamptz)
        ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version,
          capabilities = EXCLUDED.capabilities, fps = EXCLUDED.fps,
          max_frames_per_clip = EXCLUDED.max_frames_per_clip,
          last_seen_at = EXCLUDED.last_seen_at`;
    }
  }

  async find(name: string): Promise<ModelPackRecord | null> {
    const row = await this.ctx.app().modelPack.findUnique({ where: { name } });
    return row ? toModelPack(row) : null;
  }

  async list(): Promise<ModelPackRecord[]> {
    const rows = await this.ctx.app().modelPack.findMany({ orderBy: { name: 'asc' } });
    return rows.map(toModelPack);
  }
}
