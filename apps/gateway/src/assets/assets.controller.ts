import {
  Controller,
  Get,
  HttpCode,
  Param,
  Post,
  Query,
  Req,
  Res,
  StreamableFile,
  UseFilters,
} from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Asset, JsonObject } from '@likeness/db';
import { Access, TENANT_WRITERS } from '../auth/access';
import { CurrentPrincipal, CurrentTenant } from '../auth/current.decorators';
import type { Principal } from '../auth/principal';
import { Public } from '../auth/public.decorator';
import { AssetsService } from './assets.service';
import { AssetRestErrorFilter } from './rest-error.filter';
import { RAW_UPLOAD_ROUTE, uploadSourceOf } from './upload-transport';

/** The answer to `POST /v1/assets` (API.md). */
export interface AssetJson {
  id: string;
  kind: Asset['kind'];
  mime: string;
  bytes: number;
  sha256: string;
  probe: JsonObject;
  createdAt: string;
}

export function assetJson(asset: Asset): AssetJson {
  return {
    id: asset.id,
    kind: asset.kind,
    mime: asset.mime,
    bytes: asset.bytes,
    sha256: asset.sha256,
    probe: asset.probe,
    createdAt: asset.createdAt.toISOString(),
  };
}

@Controller('v1/assets')
@UseFilters(AssetRestErrorFilter)
export class AssetsController {
  constructor(private readonly assets: AssetsService) {}

  /**
   * Upload: the raw file as the body (any Content-Type, which is ignored) or multipart field
   * `file`. Streamed, sniffed, limited by the tenant's plan, probed; 201 with the asset.
   */
  @Post()
  @HttpCode(201)
  @RouteConfig({ [RAW_UPLOAD_ROUTE]: true })
  @Access({ roles: TENANT_WRITERS, scopes: ['assets:write'] })
  async upload(
    @Req() request: FastifyRequest,
    @CurrentTenant() tenantId: string,
    @CurrentPrincipal() principal: Principal,
  ): Promise<AssetJson> {
    const tenant = { id: tenantId, plan: principal.tenant?.plan ?? '' };
    const plan = this.assets.planOf(tenant);
    const source = await uploadSourceOf(request, plan.maxUploadBytes);
    return assetJson(await this.assets.upload(tenant, source));
  }

  /** A signed, expiring download link (see SignedUrlService); the signature is the credential. */
  @Public()
  @Get(':id/content')
  async content(
    @Param('id') id: string,
    @Query('expires') expires: unknown,
    @Query('sig') sig: unknown,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<StreamableFile> {
    const download = await this.assets.openSignedDownload(id, expires, sig);
    const maxAge = Math.max(0, Math.floor((download.expiresAt.getTime() - Date.now()) / 1000));
    void reply.header('cache-control', `private, max-age=${maxAge}`);
    void reply.header('x-content-type-options', 'nosniff');
    return new StreamableFile(download.stream, { type: download.mime, length: download.bytes });
  }
}
