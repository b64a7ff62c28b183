import {
  Args,
  ID,
  Int,
  Mutation,
  Parent,
  Query,
  ResolveField,
  Resolver,
  Subscription,
} from '@nestjs/graphql';
import { Asset, toAssetNode } from '../assets/asset.model';
import { AssetsService } from '../assets/assets.service';
import { Access, TENANT_READERS, TENANT_WRITERS } from '../auth/access';
import { CurrentPrincipal, CurrentTenant } from '../auth/current.decorators';
import type { Principal } from '../auth/principal';
import {
  AVATARS_PAGE,
  Avatar,
  AvatarConnection,
  AvatarMatch,
  CreateAvatarInput,
  IdentityEmbeddingInfo,
  SIMILAR_AVATARS,
  toAvatarNode,
} from './avatar.model';
import { avatarUpdatedTopic, type AvatarChanged } from './avatar.realtime';
import { avatarCursor, avatarIdOfCursor, pageSize } from './avatar.validation';
import { AvatarsService } from './avatars.service';
import { EventBus } from '../realtime';

@Resolver(() => Avatar)
export class AvatarsResolver {
  constructor(
    private readonly service: AvatarsService,
    private readonly assets: AssetsService,
    private readonly bus: EventBus,
  ) {}

  @Mutation(() => Avatar, {
    description:
      'Creates an avatar from an IMAGE asset, PROCESSING until a worker has found the face (then READY or FAILED with the reason; webhooks avatar.ready / avatar.failed). The consent attestation is audit-logged with the photo’s sha256.',
  })
  @Access({ roles: TENANT_WRITERS, scopes: ['avatars:write'] })
  async createAvatar(
    @CurrentPrincipal() principal: Principal,
    @CurrentTenant() tenantId: string,
    @Args('input') input: CreateAvatarInput,
  ): Promise<Avatar> {
    return toAvatarNode(await this.service.create(principal, tenantId, input));
  }

  @Query(() => Avatar, { nullable: true, description: 'Null for unknown ids and other tenants’.' })
  @Access({ roles: TENANT_READERS, scopes: ['avatars:read'] })
  async avatar(
    @Args('id', { type: () => ID }) id: string,
    @CurrentTenant() tenantId: string,
  ): Promise<Avatar | null> {
    const row = await this.service.findById(tenantId, id);
    return row ? toAvatarNode(row) : null;
  }

  @Query(() => AvatarConnection, { description: "The tenant's avatars, newest first." })
  @Access({ roles: TENANT_READERS, scopes: ['avatars:read'] })
  async avatars(
    @CurrentTenant() tenantId: string,
    @Args('first', {
      type: () => Int,
      nullable: true,
      description: `Page size, 1–${AVATARS_PAGE.max} (default ${AVATARS_PAGE.default}).`,
    })
    first: number | null,
    @Args('after', { type: () => String, nullable: true }) after: string | null,
  ): Promise<AvatarConnection> {
    const size = pageSize('first', first, AVATARS_PAGE);
    const rows = await this.service.list(tenantId, {
      first: size + 1,
      ...(after !== null && after !== undefined ? { afterId: avatarIdOfCursor(after) } : {}),
    });
    const edges = rows
      .slice(0, size)
      .map((row) => ({ cursor: avatarCursor(row.id), node: toAvatarNode(row) }));
    return {
      edges,
      nodes: edges.map((e) => e.node),
      pageInfo: {
        hasNextPage: rows.length > size,
        hasPreviousPage: false,
        startCursor: edges[0]?.cursor ?? null,
        endCursor: edges.at(-1)?.cursor ?? null,
      },
    };
  }

  @Query(() => [AvatarMatch], {
    description:
      'The tenant’s avatars most like this one by identity embedding (cosine similarity, same identity model), best first, itself excluded. NOT_FOUND for unknown ids, CONFLICT while the avatar is not READY.',
  })
  @Access({ roles: TENANT_READERS, scopes: ['avatars:read'] })
  async similarAvatars(
    @CurrentTenant() tenantId: string,
    @Args('avatarId', { type: () => ID }) avatarId: string,
    @Args('first', {
      type: () => Int,
      nullable: true,
      description: `1–${SIMILAR_AVATARS.max} (default ${SIMILAR_AVATARS.default}).`,
    })
    first: number | null,
  ): Promise<AvatarMatch[]> {
    const size = pageSize('first', first, SIMILAR_AVATARS);
    const matches = await this.service.similar(tenantId, avatarId, size);
    return matches.map((m) => ({ avatar: toAvatarNode(m.avatar), similarity: m.similarity }));
  }

  @Mutation(() => Boolean, {
    description:
      'Deletes the avatar, its identity embedding and its preview (your photo asset stays). NOT_FOUND for unknown ids and other tenants’; CONFLICT while renders that use it are not finished.',
  })
  @Access({ roles: TENANT_WRITERS, scopes: ['avatars:write'] })
  async deleteAvatar(
    @CurrentPrincipal() principal: Principal,
    @CurrentTenant() tenantId: string,
    @Args('id', { type: () => ID }) id: string,
  ): Promise<boolean> {
    await this.service.delete(principal, tenantId, id);
    return true;
  }

  @Subscription(() => Avatar, {
    nullable: true,
    description:
      'The avatar after each change (PROCESSING → READY or FAILED); null once it is deleted. Another tenant’s id never fires.',
    resolve(this: AvatarsResolver, payload: AvatarChanged) {
      return this.service
        .findById(payload.tenantId, payload.avatarId)
        .then((row) => (row ? toAvatarNode(row) : null));
    },
  })
  @Access({ roles: TENANT_READERS, scopes: ['avatars:read'] })
  avatarUpdated(
    @CurrentTenant() tenantId: string,
    @Args('id', { type: () => ID }) id: string,
  ): AsyncIterableIterator<unknown> {
    return this.bus.listen(avatarUpdatedTopic(tenantId, id));
  }

  @ResolveField(() => Asset, { description: 'The photo it was made from (your upload).' })
  async image(@Parent() avatar: Avatar, @CurrentTenant() tenantId: string): Promise<Asset> {
    const row = await this.assets.findById(tenantId, avatar.imageAssetId);
    // The foreign key keeps the photo while the avatar exists.
    if (!row) throw new Error(`avatar ${avatar.id} has no image asset`);
    return toAssetNode(row);
  }

  @ResolveField(() => Asset, {
    nullable: true,
    description: 'A face crop made by the worker (JPEG, 256 px), once READY.',
  })
  async preview(
    @Parent() avatar: Avatar,
    @CurrentTenant() tenantId: string,
  ): Promise<Asset | null> {
    if (avatar.previewAssetId === null) return null;
    const row = await this.assets.findById(tenantId, avatar.previewAssetId);
    return row ? toAssetNode(row) : null;
  }

  @ResolveField(() => IdentityEmbeddingInfo, { nullable: true, description: 'Once READY.' })
  identityEmbedding(
    @Parent() avatar: Avatar,
    @CurrentTenant() tenantId: string,
  ): Promise<IdentityEmbeddingInfo | null> {
    return this.service.embeddingInfo(tenantId, avatar.id);
  }
}
