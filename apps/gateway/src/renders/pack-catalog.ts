import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Db } from '@likeness/db';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { DB } from '../infra/infra.module';
import { WorkerRegistryService, type PackInfo } from '../workers';
import type { PackFacts } from './render-input';

/** How often the live packs are written to the catalogue (per replica). */
const REMEMBER_EVERY_MS = 30_000;

export interface ResolvedPack {
  facts: PackFacts;
  /** Live workers with the pack now; 0 when it is only remembered (workers scaled to zero). */
  workers: number;
}

/**
 * Which model packs a render may use. Live workers' advertisements come first; packs no live
 * worker has are remembered in Postgres (`model_packs`) for `packMemoryDays`, so a render for a
 * pack whose workers scaled to zero is still validated and queued (it waits for a worker, and
 * its queue depth is what scales workers up). A pack never seen is unknown.
 */
@Injectable()
export class PackCatalog {
  private readonly logger = new Logger(PackCatalog.name);
  private lastRemembered = 0;
  /** What this replica last wrote (name@version …): a change is written at once. */
  private rememberedSignature = '';

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(DB) private readonly db: Db,
    private readonly registry: WorkerRegistryService,
  ) {}

  async resolve(name: string): Promise<ResolvedPack | null> {
    const live = await this.registry.pack(name);
    if (live) {
      await this.rememberLive();
      return { facts: factsOf(live), workers: live.workers };
    }
    const known = await this.db.modelPacks.find(name);
    if (!known) return null;
    const maxAgeMs = this.config.renders.packMemoryDays * 86_400_000;
    if (Date.now() - known.lastSeenAt.getTime() > maxAgeMs) return null;
    return { facts: factsOf(known), workers: 0 };
  }

  /**
   * Writes what live workers advertise to the catalogue: at once when it changed, else at most
   * every 30 s (to refresh lastSeenAt); never throws.
   */
  async rememberLive(): Promise<void> {
    try {
      const packs = await this.registry.packs();
      const signature = packs
        .map((p) => `${p.name}@${p.version}:${JSON.stringify(p.capabilities)}:${p.fps}`)
        .join(',');
      const now = Date.now();
      if (signature === this.rememberedSignature && now - this.lastRemembered < REMEMBER_EVERY_MS) {
        return;
      }
      this.rememberedSignature = signature;
      this.lastRemembered = now;
      await this.db.modelPacks.remember(
        packs.map((p) => ({
          name: p.name,
          version: p.version,
          capabilities: { ...p.capabilities },
          fps: p.fps,
          maxFramesPerClip: p.maxFramesPerClip,
        })),
      );
    } catch (error) {
      this.rememberedSignature = ''; // try again next time
      this.logger.warn(`could not record the live model packs: ${String(error)}`);
    }
  }
}

function factsOf(pack: Pick<PackInfo, 'name' | 'version' | 'capabilities' | 'fps'>): PackFacts {
  return {
    name: pack.name,
    version: pack.version,
    capabilities: { ...pack.capabilities },
    fps: pack.fps,
  };
}
