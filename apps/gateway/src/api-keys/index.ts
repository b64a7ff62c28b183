export { ApiKeysModule } from './api-keys.module';
export { ApiKeyCache, authInvalidationChannel } from './api-key-cache';
export { ApiKeyUsageRecorder } from './api-key-usage.recorder';
