// Plain domain types: what libs/db hands to the rest of the code (never Prisma's types).

export type JsonValue =
  string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export type TenantStatus = 'ACTIVE' | 'SUSPENDED';
export type UserRole = 'PLATFORM_ADMIN' | 'TENANT_ADMIN' | 'TENANT_VIEWER';
export type AssetKind = 'IMAGE' | 'AUDIO' | 'VIDEO';
export type AvatarStatus = 'PROCESSING' | 'READY' | 'FAILED';
export type RenderStatus = 'QUEUED' | 'RUNNING' | 'ENCODING' | 'SUCCEEDED' | 'FAILED' | 'CANCELED';

export interface Tenant {
  id: string;
  name: string;
  slug: string;
  plan: string;
  status: TenantStatus;
  limits: JsonObject;
  stripeCustomerId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface User {
  id: string;
  /** Null for platform admins. */
  tenantId: string | null;
  email: string;
  role: UserRole;
  createdAt: Date;
  updatedAt: Date;
}

/** What login needs: the hash to verify and whether the tenant may log in. */
export interface LoginUser {
  id: string;
  email: string;
  passwordHash: string;
  role: UserRole;
  tenantId: string | null;
  tenantStatus: TenantStatus | null;
}

export interface Session {
  id: string;
  userId: string;
  expiresAt: Date;
  revokedAt: Date | null;
  createdAt: Date;
}

export interface SessionAuth {
  sessionId: string;
  expiresAt: Date;
  revokedAt: Date | null;
  user: { id: string; email: string; role: UserRole; tenantId: string | null };
  tenantStatus: TenantStatus | null;
  /** The user's tenant; null for platform admins. */
  tenant: { id: string; name: string; plan: string; status: TenantStatus } | null;
}

/** A change to a tenant; absent fields stay as they are. */
export interface UpdateTenantInput {
  name?: string;
  plan?: string;
  status?: TenantStatus;
}

/** Keyset position in the oldest-first tenant list (the last tenant of the previous page). */
export interface TenantCursor {
  createdAt: Date;
  id: string;
}

export interface ApiKey {
  id: string;
  tenantId: string;
  name: string;
  prefix: string;
  scopes: string[];
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  spendCapCents: number | null;
  createdAt: Date;
}

/** Result of `apiKeys.authenticate`: the caller decides what expired / revoked / suspended mean. */
export interface ApiKeyAuth {
  apiKeyId: string;
  tenantId: string;
  name: string;
  prefix: string;
  scopes: string[];
  expiresAt: Date | null;
  revokedAt: Date | null;
  spendCapCents: number | null;
  tenant: { id: string; name: string; slug: string; plan: string; status: TenantStatus };
}

export interface Asset {
  id: string;
  tenantId: string;
  kind: AssetKind;
  mime: string;
  /** Size in bytes (stored as bigint; always a safe integer here). */
  bytes: number;
  sha256: string;
  storageKey: string;
  probe: JsonObject;
  createdAt: Date;
}

export interface Avatar {
  id: string;
  tenantId: string;
  name: string;
  imageAssetId: string;
  faceIndex: number | null;
  faceBox: JsonValue | null;
  keypoints: JsonValue | null;
  status: AvatarStatus;
  /** AvatarFailureReason code (libs/contracts) when FAILED. */
  failureReason: string | null;
  failureMessage: string | null;
  /** The faces found, for SEVERAL_FACES and FACE_INDEX_OUT_OF_RANGE (DetectedFaceV1[]). */
  failureFaces: JsonValue | null;
  consentAttestation: string;
  consentAt: Date;
  modelPack: string;
  previewAssetId: string | null;
  createdAt: Date;
  updatedAt: Date;
  /** Set on the tombstone of an avatar deleted while finished renders referenced it. */
  deletedAt: Date | null;
}

export interface AvatarSimilarity {
  avatarId: string;
  /** Cosine similarity, 1 = same direction. */
  similarity: number;
}

export interface Render {
  id: string;
  tenantId: string;
  apiKeyId: string | null;
  avatarId: string;
  audioAssetId: string;
  prompt: string;
  controls: JsonObject;
  seed: number;
  modelPack: string;
  modelPackVersion: string;
  status: RenderStatus;
  priority: number;
  progress: JsonValue | null;
  outputAssetId: string | null;
  identityScore: number | null;
  costCents: number | null;
  error: JsonValue | null;
  attempts: number;
  idempotencyKey: string | null;
  inputHash: string;
  queuedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  deadlineAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /** When the fair scheduler gave it a BullMQ job; null while it waits in Postgres. */
  admittedAt: Date | null;
  /** The worker run whose events apply, its last applied seq and the `at` of its first event. */
  runId: string | null;
  runSeq: number;
  runAt: Date | null;
  /** Worker runs started; `attempts` counts admissions (each a BullMQ job id). */
  runs: number;
  workerId: string | null;
  lastEventAt: Date | null;
  cancelRequestedAt: Date | null;
  audioSeconds: number;
  frames: number;
  /** Video seconds reserved at creation (monthly quota), then charged; 0 if cancelled/failed. */
  billedSeconds: number;
  quotedCents: number;
}

/** A model pack as live workers last advertised it. */
export interface ModelPackRecord {
  name: string;
  version: string;
  capabilities: { identity: boolean; motion: boolean; maxSide: number };
  fps: number;
  maxFramesPerClip: number;
  lastSeenAt: Date;
}

export interface RenderEvent {
  id: string;
  tenantId: string;
  renderId: string;
  sequence: number;
  type: string;
  payload: JsonValue;
  createdAt: Date;
}

export interface AuditLogEntry {
  id: string;
  tenantId: string | null;
  actor: string;
  action: string;
  target: string | null;
  data: JsonObject;
  createdAt: Date;
}

/** Keyset pagination: newest first; pass the last item's id as `before` for the next page. */
export interface ListOptions {
  /** Default 50, at most 500. */
  first?: number;
  before?: string;
}

export type WebhookDeliveryStatus = 'PENDING' | 'SUCCEEDED' | 'FAILED';

/** `secret` and `previousSecret` are stored as the caller gives them (the gateway encrypts). */
export interface WebhookEndpoint {
  id: string;
  tenantId: string;
  url: string;
  description: string | null;
  eventTypes: string[];
  secret: string;
  previousSecret: string | null;
  previousSecretExpiresAt: Date | null;
  disabledAt: Date | null;
  /** `USER` or `FAILING`. */
  disabledReason: string | null;
  /** Consecutive failed attempts across deliveries; reset by a 2xx. */
  failureCount: number;
  failingSince: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface WebhookDeliveryAttempt {
  id: string;
  deliveryId: string;
  attempt: number;
  startedAt: Date;
  durationMs: number;
  responseStatus: number | null;
  error: string | null;
  nextAttemptAt: Date | null;
  createdAt: Date;
}

export interface WebhookDelivery {
  id: string;
  tenantId: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  /** The whole body sent: { id, type, createdAt, data }. */
  payload: JsonObject;
  status: WebhookDeliveryStatus;
  attempts: number;
  nextAttemptAt: Date | null;
  responseStatus: number | null;
  lastError: string | null;
  deliveredAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface WebhookDeliveryWithAttempts extends WebhookDelivery {
  /** Oldest first. */
  attemptLog: WebhookDeliveryAttempt[];
}
