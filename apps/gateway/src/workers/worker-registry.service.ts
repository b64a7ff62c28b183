import { Inject, Injectable, Logger } from '@nestjs/common';
import { WORKER_HEARTBEAT_PREFIX, WorkerHeartbeatV1 } from '@likeness/contracts';
import type { WorkerHeartbeat } from '@likeness/contracts';
import type { Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { REDIS } from '../infra/infra.module';

/** A model pack as the live workers advertise it. */
export interface PackInfo {
  readonly name: string;
  readonly version: string;
  readonly capabilities: { identity: boolean; motion: boolean; maxSide: number };
  readonly fps: number;
  readonly maxFramesPerClip: number;
  /** Live workers that have this pack loaded. */
  readonly workers: number;
  /** Execution providers those workers run on. */
  readonly providers: readonly ('cpu' | 'cuda')[];
}

/** How long a read of the advertisements is reused: one SCAN per second at most per replica. */
const CACHE_MS = 1000;

/**
 * What the live workers are: read from the advertisements they renew in Redis
 * (`<prefix>:workers:<id>`, expiring when a worker dies). `modelPacks` and the render
 * validation use it; workers scale from zero, so an empty list is a normal state.
 */
@Injectable()
export class WorkerRegistryService {
  private readonly logger = new Logger(WorkerRegistryService.name);
  private cached: { at: number; workers: Promise<WorkerHeartbeat[]> } | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  /** Live workers' advertisements (at most CACHE_MS old). */
  workers(): Promise<WorkerHeartbeat[]> {
    const now = Date.now();
    if (this.cached === undefined || now - this.cached.at > CACHE_MS) {
      const workers = this.read();
      this.cached = { at: now, workers };
      workers.catch(() => {
        if (this.cached?.workers === workers) this.cached = undefined;
      });
    }
    return this.cached.workers;
  }

  /** Forgets the cached advertisements (tests, and right after a worker registered). */
  refresh(): void {
    this.cached = undefined;
  }

  /** Every pack some live worker has, one entry per name: the version most workers run. */
  async packs(): Promise<PackInfo[]> {
    const byVersion = new Map<string, PackInfo & { providers: ('cpu' | 'cuda')[] }>();
    for (const worker of await this.workers()) {
      for (const pack of worker.packs) {
        const key = `${pack.name}@${pack.version}`;
        const entry = byVersion.get(key);
        if (entry === undefined) {
          byVersion.set(key, {
            name: pack.name,
            version: pack.version,
            capabilities: { ...pack.capabilities },
            fps: pack.fps,
            maxFramesPerClip: pack.maxFramesPerClip,
            workers: 1,
            providers: [worker.provider],
          });
        } else {
          byVersion.set(key, {
            ...entry,
            workers: entry.workers + 1,
            providers: entry.providers.includes(worker.provider)
              ? entry.providers
              : [...entry.providers, worker.provider],
          });
        }
      }
    }
    const best = new Map<string, PackInfo>();
    for (const pack of byVersion.values()) {
      const current = best.get(pack.name);
      if (
        current === undefined ||
        pack.workers > current.workers ||
        (pack.workers === current.workers && pack.version > current.version)
      ) {
        best.set(pack.name, pack);
      }
    }
    return [...best.values()]
      .map((pack) => ({ ...pack, providers: [...pack.providers].sort() }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The pack called `name`, or null when no live worker has it. */
  async pack(name: string): Promise<PackInfo | null> {
    return (await this.packs()).find((p) => p.name === name) ?? null;
  }

  private async read(): Promise<WorkerHeartbeat[]> {
    const pattern = `${this.config.redisPrefix}:${WORKER_HEARTBEAT_PREFIX}*`;
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    if (keys.length === 0) return [];
    const values = await this.redis.mget(...keys);
    const workers: WorkerHeartbeat[] = [];
    values.forEach((value, i) => {
      if (value === null) return; // expired between SCAN and MGET
      const parsed = WorkerHeartbeatV1.safeParse(safeJson(value));
      if (parsed.success) workers.push(parsed.data);
      else this.logger.warn(`ignoring malformed worker advertisement ${keys[i] ?? ''}`);
    });
    return workers.sort((a, b) => a.workerId.localeCompare(b.workerId));
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}
