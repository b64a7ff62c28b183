import { Global, Module } from '@nestjs/common';
import { ApiKeyCache } from './api-key-cache';
import { ApiKeyUsageRecorder } from './api-key-usage.recorder';
import { ApiKeysResolver } from './api-keys.resolver';
import { ApiKeysService } from './api-keys.service';

/**
 * API key management (createApiKey, revokeApiKey, rotateApiKey, apiKeys) and the machinery the
 * AuthGuard uses to authenticate keys cheaply: the replica-wide invalidated ApiKeyCache and the
 * batched lastUsedAt recorder. Global so that AuthModule and other modules (tenant suspension
 * calls ApiKeyCache.invalidateTenant) can inject them.
 */
@Global()
@Module({
  providers: [ApiKeyCache, ApiKeyUsageRecorder, ApiKeysService, ApiKeysResolver],
  exports: [ApiKeyCache, ApiKeyUsageRecorder],
})
export class ApiKeysModule {}
