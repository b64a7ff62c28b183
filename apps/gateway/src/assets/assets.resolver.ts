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
} from '@nestjs/graphql';
import { Access, TENANT_READERS, TENANT_WRITERS } from '../auth/access';
import { CurrentTenant } from '../auth/current.decorators';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { BadUserInputException } from '../errors/likeness.exception';
import {
  ASSETS_PAGE,
  Asset,
  AssetConnection,
  AssetKind,
  SignedUrl,
  toAssetNode,
} from './asset.model';
import { AssetsService } from './assets.service';
import { SignedUrlService } from './signed-urls';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CURSOR_PREFIX = 'asset:';

/** Opaque cursor of an asset in the newest-first list. */
export function assetCursor(id: string): string {
  return Buffer.from(`${CURSOR_PREFIX}${id}`, 'utf8').toString('base64url');
}

function cursorId(cursor: string): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const id = text.startsWith(CURSOR_PREFIX) ? text.slice(CURSOR_PREFIX.length) : '';
  if (!UUID_RE.test(id)) throw new BadUserInputException('after', 'after: not a cursor of assets');
  return id;
}

/** What the GraphQL context carries of the HTTP request (graphql-ws contexts have no host). */
interface RequestLike {
  headers?: Record<string, string | string[] | undefined>;
  protocol?: string;
}

@Resolver(() => Asset)
export class AssetsResolver {
  constructor(
    private readonly service: AssetsService,
    private readonly urls: SignedUrlService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Query(() => Asset, { nullable: true, description: 'Null for unknown ids and other tenants’.' })
  @Access({ roles: TENANT_READERS, scopes: ['assets:read'] })
  async asset(
    @Args('id', { type: () => ID }) id: string,
    @CurrentTenant() tenantId: string,
  ): Promise<Asset | null> {
    const row = await this.service.findById(tenantId, id);
    return row ? toAssetNode(row) : null;
  }

  @Query(() => AssetConnection, { description: "The tenant's assets, newest first." })
  @Access({ roles: TENANT_READERS, scopes: ['assets:read'] })
  async assets(
    @CurrentTenant() tenantId: string,
    @Args('first', {
      type: () => Int,
      nullable: true,
      description: `Page size, 1–${ASSETS_PAGE.max} (default ${ASSETS_PAGE.default}).`,
    })
    first: number | null,
    @Args('after', { type: () => String, nullable: true }) after: string | null,
    @Args('kind', { type: () => AssetKind, nullable: true }) kind: AssetKind | null,
  ): Promise<AssetConnection> {
    const size = first ?? ASSETS_PAGE.default;
    if (size < 1 || size > ASSETS_PAGE.max) {
      throw new BadUserInputException('first', `first: must be 1 to ${ASSETS_PAGE.max}`);
    }
    const rows = await this.service.list(tenantId, {
      first: size + 1,
      ...(after !== null && after !== undefined ? { afterId: cursorId(after) } : {}),
      ...(kind !== null && kind !== undefined ? { kind } : {}),
    });
    const page = rows.slice(0, size);
    const edges = page.map((row) => ({ cursor: assetCursor(row.id), node: toAssetNode(row) }));
    return {
      edges,
      nodes: edges.map((e) => e.node),
      pageInfo: {
        hasNextPage: rows.length > size,
        hasPreviousPage: false,
        startCursor: edges[0]?.cursor ?? null,
        endCursor: edges[edges.length - 1]?.cursor ?? null,
      },
    };
  }

  @Mutation(() => Boolean, {
    description:
      'Deletes the asset and its stored file. NOT_FOUND for unknown ids and other tenants’; CONFLICT while an avatar or render uses it.',
  })
  @Access({ roles: TENANT_WRITERS, scopes: ['assets:write'] })
  async deleteAsset(
    @Args('id', { type: () => ID }) id: string,
    @CurrentTenant() tenantId: string,
  ): Promise<boolean> {
    await this.service.delete(tenantId, id);
    return true;
  }

  @ResolveField(() => SignedUrl, {
    description: 'A signed download link, valid for SIGNED_URL_TTL_SECONDS (default 1 h).',
  })
  async url(
    @Parent() asset: Asset,
    @Context('req') req: RequestLike | undefined,
  ): Promise<SignedUrl> {
    const signed = await this.urls.sign(asset.id);
    return { url: `${this.baseUrl(req)}${signed.path}`, expiresAt: signed.expiresAt };
  }

  /** PUBLIC_URL when configured, else the request's own scheme and host, else none (a path). */
  private baseUrl(req: RequestLike | undefined): string {
    if (this.config.publicUrl) return this.config.publicUrl;
    const host = req?.headers?.['host'];
    if (typeof host !== 'string' || !/^[A-Za-z0-9.:[\]-]{1,255}$/.test(host)) return '';
    const protocol = req?.protocol === 'https' ? 'https' : 'http';
    return `${protocol}://${host}`;
  }
}
