import {
  Controller,
  Get,
  Inject,
  Param,
  Query,
  Res,
  StreamableFile,
  UseFilters,
} from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { Db } from '@likeness/db';
import { ObjectNotFoundError, type ObjectStorage } from '@likeness/storage';
import { OBJECT_STORAGE } from '../assets/object-storage.provider';
import { AssetRestErrorFilter } from '../assets/rest-error.filter';
import { SignedUrlService, type SignedPath } from '../assets/signed-urls';
import { Public } from '../auth/public.decorator';
import { ForbiddenException } from '../errors/likeness.exception';
import { DB } from '../infra/infra.module';
import { RenderNotFoundException } from './render.errors';

/**
 * What the preview signature covers. Never an asset id (those are bare uuids), so a preview
 * signature cannot open an asset and an asset signature cannot open a preview.
 */
const subject = (renderId: string): string => `render-preview:${renderId}`;

/** `/v1/renders/<id>/preview?expires=&sig=`: a signed link to a render's latest preview frame. */
export async function previewPath(urls: SignedUrlService, renderId: string): Promise<SignedPath> {
  const signed = await urls.sign(subject(renderId));
  const query = signed.path.slice(signed.path.indexOf('?'));
  return {
    path: `/v1/renders/${encodeURIComponent(renderId)}/preview${query}`,
    expiresAt: signed.expiresAt,
  };
}

function mimeOf(key: string): string {
  if (/\.png$/i.test(key)) return 'image/png';
  if (/\.webp$/i.test(key)) return 'image/webp';
  return 'image/jpeg';
}

@Controller('v1/renders')
@UseFilters(AssetRestErrorFilter)
export class RenderPreviewController {
  constructor(
    @Inject(DB) private readonly db: Db,
    @Inject(OBJECT_STORAGE) private readonly storage: ObjectStorage,
    private readonly urls: SignedUrlService,
  ) {}

  /**
   * The latest low-resolution frame of a running render. The signature is the credential:
   * forged 403, expired 410, then the render and its preview (404 when there is none any more).
   */
  @Public()
  @Get(':id/preview')
  async preview(
    @Param('id') id: string,
    @Query('expires') expires: unknown,
    @Query('sig') sig: unknown,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<StreamableFile> {
    await this.urls.requireValid(subject(id), expires, sig);
    const found = await this.db.renders.findPreview(id);
    if (!found || found.previewKey === null) throw new RenderNotFoundException();
    if (found.tenantStatus !== 'ACTIVE') {
      throw new ForbiddenException("The render's tenant is suspended", 'TENANT_SUSPENDED');
    }
    try {
      const stream = await this.storage.get(found.previewKey);
      void reply.header('cache-control', 'private, no-cache');
      void reply.header('x-content-type-options', 'nosniff');
      return new StreamableFile(stream, { type: mimeOf(found.previewKey) });
    } catch (error) {
      if (error instanceof ObjectNotFoundError) throw new RenderNotFoundException();
      throw error;
    }
  }
}
