import { Module, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { AssetsController } from './assets.controller';
import { AssetsResolver } from './assets.resolver';
import { AssetsService } from './assets.service';
import { OBJECT_STORAGE, objectStorageProvider } from './object-storage.provider';
import { SignedUrlService } from './signed-urls';
import { registerUploadTransport } from './upload-transport';

/**
 * Media uploads (`POST /v1/assets`), the Asset GraphQL API and signed downloads
 * (`GET /v1/assets/:id/content`). Exports the object store and the URL signer for the modules
 * that store or hand out other files (avatar previews, render outputs).
 */
@Module({
  controllers: [AssetsController],
  providers: [objectStorageProvider, SignedUrlService, AssetsService, AssetsResolver],
  exports: [OBJECT_STORAGE, SignedUrlService, AssetsService],
})
export class AssetsModule implements OnModuleInit {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  async onModuleInit(): Promise<void> {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    await registerUploadTransport(fastify);
  }
}
