import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { Redis } from 'ioredis';
import type { Db } from '@likeness/db';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { DB, REDIS } from '../infra/infra.module';
import { Public } from '../auth/public.decorator';

type CheckResult = { status: 'ok' } | { status: 'fail'; error: string };

/**
 * Liveness and readiness for load balancers and Kubernetes. Readiness covers what the gateway
 * itself needs (Postgres, Redis); workers scale from zero and are not part of it (API.md).
 */
@Public()
@Controller()
export class HealthController {
  constructor(
    @Inject(DB) private readonly db: Db,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get('healthz')
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('readyz')
  async readyz(@Res({ passthrough: true }) reply: FastifyReply) {
    const [postgres, redis] = await Promise.all([
      this.check(() => this.db.ping()),
      this.check(async () => {
        const pong = await this.redis.ping();
        if (pong !== 'PONG') throw new Error(`unexpected PING reply ${pong}`);
      }),
    ]);
    const ready = postgres.status === 'ok' && redis.status === 'ok';
    void reply.status(ready ? 200 : 503);
    return { status: ready ? 'ready' : 'unavailable', checks: { postgres, redis } };
  }

  private async check(probe: () => Promise<void>): Promise<CheckResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`timed out after ${this.config.readinessTimeoutMs} ms`)),
        this.config.readinessTimeoutMs,
      );
    });
    try {
      await Promise.race([probe(), timeout]);
      return { status: 'ok' };
    } catch (err) {
      return { status: 'fail', error: err instanceof Error ? err.message : String(err) };
    } finally {
      clearTimeout(timer);
    }
  }
}
