// Public API of libs/db: the only place that talks to Prisma. Callers get plain domain types.
export { APP_ROLE, DEFAULT_APP_PASSWORD, PLATFORM_ROLE, deriveAppUrl } from './config';
export type { DbConfig } from './config';
export { createDb } from './db';
export type { Db, TenantTx, WithTenantOptions } from './db';
export { DbError } from './errors';
export type { DbErrorCode } from './errors';
export {
  generateApiKeySecret,
  hashApiKeySecret,
  isApiKeySecretFormat,
  API_KEY_PREFIX_LENGTH,
} from './api-key-secret';
export type { GeneratedApiKeySecret } from './api-key-secret';
export { migrate, MigrationError } from './migrate/migrate';
export type { MigrateConfig } from './migrate/migrate';
export { checkDrift, checkMigrationsMatchSchema, diffSchemaAndCatalog } from './drift/drift';
export { hashPassword, verifyPassword } from './password';
export { seedDemo, DEMO_TENANT_SLUG, DEMO_API_KEY_FILE, DEMO_API_KEY_SCOPES } from './seed';
export type { SeedDemoOptions, SeedDemoResult } from './seed';
export type { TenantRepository, CreateTenantInput } from './repositories/tenant.repository';
export type { UserRepository, CreateUserInput } from './repositories/user.repository';
export type { SessionRepository } from './repositories/session.repository';
export type {
  ApiKeyRepository,
  CreateApiKeyInput,
  ApiKeyAuditInput,
  ApiKeyCursor,
  ApiKeyPage,
  ListApiKeysOptions,
  RotateApiKeyInput,
  RotatedApiKey,
} from './repositories/api-key.repository';
export type {
  AssetDownload,
  AssetRepository,
  CreateAssetInput,
} from './repositories/asset.repository';
export type {
  AvatarAuditInput,
  AvatarFailedInput,
  AvatarPreparedInput,
  AvatarRepository,
  AvatarTransition,
  AvatarTransitionOptions,
  CreateAvatarInput,
  DeletedAvatar,
  UpdateAvatarInput,
} from './repositories/avatar.repository';
export {
  FINISHED_RENDER_STATUSES,
  renderFromSnapshot,
  renderSnapshot,
} from './repositories/render.repository';
export type {
  AdmitAtCreation,
  AfterRenderChange,
  CreateQueuedRenderInput,
  CreateQueuedResult,
  RenderChange,
  RenderCreateBuilt,
  RenderCreateFound,
  RenderCreateRequest,
  RenderPreview,
  RenderQueueSnapshot,
  RenderRepository,
  RenderReservation,
  RenderUsage,
  CreateRenderInput,
  UpdateRenderInput,
} from './repositories/render.repository';
export type {
  AdmissionCandidate,
  AdmissionSlotsInput,
  AdmissionTenant,
  AdmitOptions,
  AdmitResult,
  RenderDispatch,
  RenderDispatchRepository,
  RenderQueueDepthRow,
  RenderQueueState,
} from './repositories/render-dispatch.repository';
export type { ModelPackRepository } from './repositories/model-pack.repository';
export type { AuditLogRepository, AppendAuditInput } from './repositories/audit-log.repository';
export { insertWebhookEvent } from './repositories/webhook.repository';
export type {
  ClaimedWebhookDelivery,
  CreateWebhookEndpointInput,
  DisableFailingEndpointInput,
  DueWebhookDelivery,
  EmittedWebhookEvent,
  ListWebhookDeliveriesOptions,
  RecordedWebhookAttempt,
  RecordWebhookAttemptInput,
  UpdateWebhookEndpointInput,
  WebhookAuditInput,
  WebhookClaim,
  WebhookDeliveryCursor,
  WebhookDeliveryPage,
  WebhookEventInput,
  WebhookRepository,
} from './repositories/webhook.repository';
export * from './types';
