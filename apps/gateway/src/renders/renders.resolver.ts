import { Inject } from '@nestjs/common';
import {
  Args,
  Context,
  ID,
  Int,
  Mutation,
  Parent,
  Query,
  ResolveField,
  Resolver,
  Subscription,
} from '@nestjs/graphql';
import type { Db } from '@likeness/db';
import { Access, TENANT_READERS, TENANT_WRITERS } from '../auth/access';
import { CurrentPrincipal, CurrentTenant } from '../auth/current.decorators';
import type { Principal } from '../auth/principal';
import { Avatar, toAvatarNode } from '../avatars';
import { SignedUrlService } from '../assets/signed-urls';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { DB } from '../infra/infra.module';
import { RenderNotFoundException, RenderInputException } from './render.errors';
import {
  Render,
  RenderConnection,
  RenderEstimate,
  RenderEvent,
  RenderInput,
  RenderOutput,
  RenderProgress,
  RenderStatus,
  SignedUrl,
} from './render.model';
import { RenderRealtime } from './render.realtime';
import { RenderQueueInfo } from './render-queue-info';
import { RendersService } from './renders.service';
import { previewPath } from './render-preview.controller';

interface RequestLike {
  headers?: Record<string, string | string[] | undefined>;
  protocol?: string;
}

@Resolver(() => Render)
export class RendersResolver {
  constructor(
    private readonly service: RendersService,
    private readonly realtime: RenderRealtime,
  ) {}

  @Query(() => RenderEstimate, {
    description:
      'Frames, video seconds, price, queue position and ETA of a render, and whether createRender would accept it now. Validates like createRender; creates nothing.',
  })
  @Access({ roles: TENANT_READERS, scopes: ['renders:read'] })
  estimateRender(
    @CurrentPrincipal() principal: Principal,
    @CurrentTenant() tenantId: string,
    @Args('input') input: RenderInput,
  ): Promise<RenderEstimate> {
    return this.service.estimate(principal, tenantId, input);
  }

  @Mutation(() => Render, {
    description:
      'Queues a render (QUEUED). With an idempotencyKey, repeating the call with the same input returns the same render; with another input it is CONFLICT.',
  })
  @Access({ roles: TENANT_WRITERS, scopes: ['renders:write'] })
  createRender(
    @CurrentPrincipal() principal: Principal,
    @CurrentTenant() tenantId: string,
    @Args('input') input: RenderInput,
    @Args('idempotencyKey', {
      type: () => String,
      nullable: true,
      description: '1–255 characters, unique per tenant; kept with the render.',
    })
    idempotencyKey: string | null,
  ): Promise<Render> {
    return this.service.create(principal, tenantId, input, idempotencyKey);
  }

  @Mutation(() => Render, {
    description:
      'Cancels a render: at once (and free) while it waits; while it runs the worker stops between two steps (status CANCELED then, cancelRequestedAt until). CONFLICT once finished.',
  })
  @Access({ roles: TENANT_WRITERS, scopes: ['renders:write'] })
  cancelRender(
    @CurrentTenant() tenantId: string,
    @Args('id', { type: () => ID }) id: string,
  ): Promise<Render> {
    return this.service.cancel(tenantId, id);
  }

  @Query(() => Render, { nullable: true, description: 'Null for unknown ids and other tenants’.' })
  @Access({ roles: TENANT_READERS, scopes: ['renders:read'] })
  render(
    @CurrentTenant() tenantId: string,
    @Args('id', { type: () => ID }) id: string,
  ): Promise<Render | null> {
    return this.service.get(tenantId, id);
  }

  @Query(() => RenderConnection, { description: 'The tenant’s renders, newest first.' })
  @Access({ roles: TENANT_READERS, scopes: ['renders:read'] })
  renders(
    @CurrentTenant() tenantId: string,
    @Args('first', { type: () => Int, nullable: true, description: '1–100, default 20.' })
    first: number | null,
    @Args('after', { type: () => String, nullable: true }) after: string | null,
    @Args('status', { type: () => RenderStatus, nullable: true }) status: RenderStatus | null,
  ): Promise<RenderConnection> {
    return this.service.list(tenantId, { first, after, status });
  }

  @Subscription(() => RenderEvent, {
    description:
      'The render’s events in order. afterSequence: replay every event after it first (0: all); absent: start with the latest. Ends after the final event.',
    resolve: (event: RenderEvent) => event,
  })
  @Access({ roles: TENANT_READERS, scopes: ['renders:read'] })
  async renderUpdated(
    @CurrentTenant() tenantId: string,
    @Args('id', { type: () => ID }) id: string,
    @Args('afterSequence', { type: () => Int, nullable: true }) afterSequence: number | null,
  ): Promise<AsyncIterableIterator<RenderEvent>> {
    if (afterSequence !== null && afterSequence < 0) {
      throw new RenderInputException('afterSequence', 'afterSequence must be 0 or more');
    }
    if (!(await this.service.get(tenantId, id))) throw new RenderNotFoundException();
    return this.realtime.renderEvents(tenantId, id, afterSequence);
  }

  @Subscription(() => RenderEvent, {
    description:
      'Every event of every render of the caller’s tenant from now on (in order per render).',
    resolve: (event: RenderEvent) => event,
  })
  @Access({ roles: TENANT_READERS, scopes: ['renders:read'] })
  rendersUpdated(@CurrentTenant() tenantId: string): Promise<AsyncIterableIterator<RenderEvent>> {
    return this.realtime.tenantEvents(tenantId);
  }
}

/** Fields of Render that are read on demand: avatar, output link, queue position. */
@Resolver(() => Render)
export class RenderFieldsResolver {
  constructor(
    @Inject(DB) private readonly db: Db,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly urls: SignedUrlService,
    private readonly queueInfo: RenderQueueInfo,
  ) {}

  @ResolveField(() => Avatar, { description: 'Also after the avatar was deleted (a tombstone).' })
  async avatar(@Parent() render: Render): Promise<Avatar> {
    const row = await this.db.avatars.findByIdIncludingDeleted(render.tenantId, render.avatarId);
    // The foreign key keeps the row: a missing one is a bug, not the caller's problem.
    if (!row) throw new Error(`avatar ${render.avatarId} of render ${render.id} is missing`);
    return toAvatarNode(row);
  }

  @ResolveField(() => RenderOutput, { nullable: true, description: 'Once SUCCEEDED.' })
  async output(
    @Parent() render: Render,
    @Context('req') req: RequestLike | undefined,
  ): Promise<RenderOutput | null> {
    if (render.status !== RenderStatus.SUCCEEDED || render.outputAssetId === null) return null;
    const asset = await this.db.assets.findById(render.tenantId, render.outputAssetId);
    if (!asset) return null;
    const signed = await this.urls.sign(asset.id);
    const probe = asset.probe;
    const num = (key: string): number => {
      const value = probe[key];
      return typeof value === 'number' ? value : 0;
    };
    return {
      assetId: asset.id,
      url: `${baseUrl(this.config, req)}${signed.path}`,
      expiresAt: signed.expiresAt,
      durationSeconds: num('durationSeconds'),
      width: num('width'),
      height: num('height'),
      fps: num('fps'),
      frames: num('frames'),
      bytes: asset.bytes,
    };
  }

  @ResolveField(() => Int, {
    nullable: true,
    description:
      'While QUEUED: renders expected to start before it (all tenants, round-robin), plus one; 1 = next.',
  })
  async queuePosition(@Parent() render: Render): Promise<number | null> {
    if (render.status !== RenderStatus.QUEUED) return null;
    // The render as it is now (an event's snapshot may be old).
    const row = await this.db.renders.findById(render.tenantId, render.id);
    if (!row || row.status !== 'QUEUED') return null;
    return (await this.queueInfo.positions(render.tenantId, [row])).get(row.id) ?? null;
  }
}

@Resolver(() => RenderProgress)
export class RenderProgressResolver {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly urls: SignedUrlService,
  ) {}

  @ResolveField(() => SignedUrl, {
    nullable: true,
    description:
      'A signed link to the latest low-resolution preview frame, when the worker made one.',
  })
  async preview(
    @Parent() progress: RenderProgress,
    @Context('req') req: RequestLike | undefined,
  ): Promise<SignedUrl | null> {
    if (progress.previewKey === null) return null;
    const signed = await previewPath(this.urls, progress.renderId);
    return { url: `${baseUrl(this.config, req)}${signed.path}`, expiresAt: signed.expiresAt };
  }
}

/** PUBLIC_URL when configured, else the request's own scheme and host, else none (a path). */
function baseUrl(config: AppConfig, req: RequestLike | undefined): string {
  if (config.publicUrl) return config.publicUrl;
  const host = req?.headers?.['host'];
  if (typeof host !== 'string' || !/^[A-Za-z0-9.:[\]-]{1,255}$/.test(host)) return '';
  const protocol = req?.protocol === 'https' ? 'https' : 'http';
  return `${protocol}://${host}`;
}
