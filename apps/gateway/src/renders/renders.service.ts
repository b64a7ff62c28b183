import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode } from '@likeness/contracts';
import {
  billableVideoSeconds,
  checkRenderAllowed,
  getPlan,
  isPlanId,
  priceRender,
  type Plan,
  type RenderAllowance,
} from '@likeness/billing';
import {
  DbError,
  type RenderCreateFound,
  type Db,
  type Render as RenderRow,
  type RenderStatus as DbRenderStatus,
  type RenderUsage,
} from '@likeness/db';
import type { Principal } from '../auth/principal';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { DB } from '../infra/infra.module';
import { PackCatalog, type ResolvedPack } from './pack-catalog';
import { RenderCancelSignals } from './render-cancel.signal';
import { RenderChanges } from './render-changes';
import {
  RenderConflictException,
  RenderInputException,
  RenderNotFoundException,
  RenderQuotaException,
} from './render.errors';
import {
  checkIdempotencyKey,
  checkRenderInput,
  controlsOf,
  framesFor,
  inputHash,
  resolveForPack,
  type CheckedRenderInput,
  type ResolvedRenderInput,
} from './render-input';
import {
  CURRENCY,
  RENDERS_PAGE,
  type Render,
  type RenderConnection,
  type RenderEstimate,
  type RenderInput,
  type RenderRefusal,
  type RenderStatus,
} from './render.model';
import { RenderQueue } from './render.queue';
import { RenderDispatcher } from './render.dispatcher';
import { etaFor, RenderQueueInfo } from './render-queue-info';
import { cancelNow, requestCancel } from './render-transitions';
import { isFinished, toRenderNode } from './render-view';

const CURSOR_PREFIX = 'render:';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The first instant of the current calendar month, UTC: monthly quotas count from here. */
export function monthStart(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
}

function planOf(id: string): Plan {
  // Tenants only get known plans; an unknown one is treated as the smallest.
  return isPlanId(id) ? getPlan(id) : getPlan('free');
}

/** Everything createRender and estimateRender know before any quota. */
interface Prepared {
  checked: CheckedRenderInput;
  resolved: ResolvedRenderInput;
  pack: ResolvedPack;
  audioSeconds: number;
  frames: number;
}

/**
 * Renders of the caller's tenant: estimate, create (validated against the model pack,
 * quotas checked atomically, idempotent), read, list and cancel. State changes after creation
 * come from the workers (RenderWorkerEvents), the admitter and the reconciler.
 */
@Injectable()
export class RendersService {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(DB) private readonly db: Db,
    private readonly catalog: PackCatalog,
    private readonly changes: RenderChanges,
    private readonly signals: RenderCancelSignals,
    private readonly queue: RenderQueue,
    private readonly queueInfo: RenderQueueInfo,
    private readonly dispatcher: RenderDispatcher,
  ) {}

  async estimate(
    principal: Principal,
    tenantId: string,
    input: RenderInput,
  ): Promise<RenderEstimate> {
    const prepared = await this.prepare(tenantId, checkRenderInput(input));
    const usage = await this.db.renders.usage(
      tenantId,
      apiKeyIdOf(principal),
      monthStart(new Date()),
    );
    const allowance = this.allowance(usage, prepared.audioSeconds);
    const plan = planOf(usage.plan);
    const { position, snapshot } = await this.queueInfo.forNewRender(
      tenantId,
      prepared.resolved.priority,
    );
    const refusal: RenderRefusal | null = allowance.allowed
      ? null
      : {
          code: allowance.code,
          limit: allowance.limit,
          message: allowance.reason,
          field: allowance.field ?? null,
        };
    return {
      modelPack: prepared.resolved.modelPack,
      modelPackVersion: prepared.resolved.modelPackVersion,
      fps: prepared.resolved.fps,
      frames: prepared.frames,
      videoSeconds: prepared.frames / prepared.resolved.fps,
      billedSeconds: billableVideoSeconds(prepared.audioSeconds),
      price: {
        amountCents: priceRender({ plan, videoSeconds: prepared.audioSeconds }),
        currency: CURRENCY,
      },
      queuePosition: position,
      etaSeconds: etaFor(snapshot, position, prepared.audioSeconds, prepared.pack.workers > 0),
      allowed: allowance.allowed,
      refusal,
      workersAvailable: prepared.pack.workers > 0,
    };
  }

  async create(
    principal: Principal,
    tenantId: string,
    input: RenderInput,
    idempotencyKey: string | null | undefined,
  ): Promise<Render> {
    const key = checkIdempotencyKey(idempotencyKey);
    const checked = checkRenderInput(input);
    const hash = inputHash(checked, this.config.renders.defaultPack);
    const packName = checked.modelPack ?? this.config.renders.defaultPack;
    const [pack, admit] = await Promise.all([
      this.catalog.resolve(packName),
      this.dispatcher.admissionAtCreation(),
    ]);
    const now = new Date();
    let result;
    try {
      // The avatar, the audio, the quotas and an earlier render with the same idempotency key
      // are read in the creating transaction, under the tenant's lock (one statement).
      result = await this.db.renders.createQueued(
        tenantId,
        {
          apiKeyId: apiKeyIdOf(principal),
          avatarId: checked.avatarId,
          audioAssetId: checked.audioAssetId,
          idempotencyKey: key,
        },
        {
          monthStart: monthStart(now),
          build: (found) => {
            const prepared = validated(checked, packName, found.avatar, found.audio, pack);
            return {
              prompt: prepared.resolved.prompt,
              controls: controlsOf(prepared.resolved),
              seed: prepared.resolved.seed,
              modelPack: prepared.resolved.modelPack,
              modelPackVersion: prepared.resolved.modelPackVersion,
              priority: prepared.resolved.priority,
              inputHash: hash,
              deadlineAt: new Date(now.getTime() + this.config.renders.deadlineSeconds * 1000),
              audioSeconds: prepared.audioSeconds,
              frames: prepared.frames,
            };
          },
          guard: (usage, built) => {
            if (usage.unfinished >= this.config.renders.maxUnfinishedPerTenant) {
              throw new RenderQuotaException(
                ErrorCode.QUOTA_EXCEEDED,
                `${usage.unfinished} renders are queued or running; at most ${this.config.renders.maxUnfinishedPerTenant} may be`,
                'maxUnfinishedRenders',
              );
            }
            const allowance = this.allowance(usage, built.audioSeconds);
            if (!allowance.allowed) {
              throw new RenderQuotaException(
                allowance.code,
                allowance.reason,
                allowance.limit,
                allowance.field,
              );
            }
            return { billedSeconds: allowance.billedSeconds, quotedCents: allowance.priceCents };
          },
          ...(admit ? { admit: { ...admit, now } } : {}),
        },
      );
    } catch (error) {
      if (error instanceof DbError && error.code === 'INVALID_REFERENCE') {
        // The avatar was deleted or changed between the checks and the insert.
        throw new RenderInputException('avatarId', 'The avatar is not READY (or no longer exists)');
      }
      throw error;
    }
    if (!result.created) return this.replayed(result.render, hash);
    if (result.dispatch) {
      // Admitted at creation: the job first (a worker can start while the event goes out).
      const enqueued = this.dispatcher.enqueue([result.dispatch]);
      await Promise.all([enqueued, this.changes.afterCommit(result.render, result.event, null)]);
    } else {
      await this.changes.afterCommit(result.render, result.event, null);
    }
    return toRenderNode(result.render);
  }

  async get(tenantId: string, id: string): Promise<Render | null> {
    const row = await this.db.renders.findById(tenantId, id);
    return row ? toRenderNode(row) : null;
  }

  async list(
    tenantId: string,
    args: { first?: number | null; after?: string | null; status?: RenderStatus | null },
  ): Promise<RenderConnection> {
    const first = args.first ?? RENDERS_PAGE.default;
    if (!Number.isInteger(first) || first < 1 || first > RENDERS_PAGE.max) {
      throw new RenderInputException('first', `first must be 1 to ${RENDERS_PAGE.max}`);
    }
    const after = args.after ? decodeCursor(args.after) : undefined;
    const rows = await this.db.renders.list(tenantId, {
      first: first + 1,
      ...(after ? { before: after } : {}),
      ...(args.status ? { status: args.status as DbRenderStatus } : {}),
    });
    const page = rows.slice(0, first);
    const nodes = page.map(toRenderNode);
    const edges = nodes.map((node) => ({ cursor: encodeCursor(node.id), node }));
    return {
      edges,
      nodes,
      pageInfo: {
        hasNextPage: rows.length > first,
        hasPreviousPage: after !== undefined,
        startCursor: edges[0]?.cursor ?? null,
        endCursor: edges[edges.length - 1]?.cursor ?? null,
      },
    };
  }

  /**
   * Cancels a render. Waiting in Postgres, or admitted but not yet taken by a worker: CANCELED
   * at once, free. Running: the cancel is requested (cancelRequestedAt), workers are signalled
   * (RenderCancelSignals) and the render becomes CANCELED when the worker confirms between two
   * steps (or, failing that, after cancelGraceSeconds). Cancelling a cancelled render returns
   * it; a finished one is CONFLICT.
   */
  async cancel(tenantId: string, id: string): Promise<Render> {
    let render = await this.db.renders.findById(tenantId, id);
    if (!render) throw new RenderNotFoundException();
    if (render.status === 'CANCELED') return toRenderNode(render);
    if (isFinished(render.status)) {
      throw new RenderConflictException(`The render already ${render.status.toLowerCase()}`, 'id');
    }
    if (render.admittedAt === null) {
      const canceled = await this.changes.apply(tenantId, id, (current) =>
        current.admittedAt === null ? cancelNow(current) : null,
      );
      if (canceled) return toRenderNode(canceled);
      render = await this.db.renders.findById(tenantId, id);
      if (!render) throw new RenderNotFoundException();
      if (isFinished(render.status)) return this.finishedAnswer(render);
    }
    // Signal first: a worker that takes the job from now on sees the cancel when it starts.
    await this.signals.send(render, 'CANCELED');
    const attempt = render.attempts;
    // A job no worker holds can be removed: then nothing runs the render any more.
    const notTaken = render.status === 'QUEUED' && (await this.queue.remove(id, attempt));
    const changed = await this.changes.apply(tenantId, id, (current) =>
      notTaken && current.attempts === attempt && current.status === 'QUEUED'
        ? cancelNow(current)
        : requestCancel(current),
    );
    if (changed) return toRenderNode(changed);
    const latest = await this.db.renders.findById(tenantId, id);
    if (!latest) throw new RenderNotFoundException();
    return isFinished(latest.status) ? this.finishedAnswer(latest) : toRenderNode(latest);
  }

  private finishedAnswer(render: RenderRow): Render {
    if (render.status === 'CANCELED') return toRenderNode(render);
    throw new RenderConflictException(`The render already ${render.status.toLowerCase()}`, 'id');
  }

  private replayed(existing: RenderRow, hash: string): Render {
    if (existing.inputHash !== hash) {
      throw new RenderConflictException(
        'This idempotency key was used with a different input',
        'idempotencyKey',
      );
    }
    return toRenderNode(existing);
  }

  private allowance(usage: RenderUsage, audioSeconds: number): RenderAllowance {
    return checkRenderAllowed({
      plan: planOf(usage.plan),
      audioSeconds,
      // Concurrency is not a refusal: renders beyond it wait for the admitter.
      runningRenders: 0,
      videoSecondsUsedThisMonth: usage.videoSecondsThisMonth,
      spendCapCents: usage.apiKey?.spendCapCents ?? null,
      spentThisMonthCents: usage.apiKey?.spentThisMonthCents ?? 0,
    });
  }

  /** The pack, the capability checks, the avatar and the audio: everything but quotas. */
  private async prepare(tenantId: string, checked: CheckedRenderInput): Promise<Prepared> {
    const packName = checked.modelPack ?? this.config.renders.defaultPack;
    const [avatar, audio, pack] = await Promise.all([
      this.db.avatars.findById(tenantId, checked.avatarId),
      this.db.assets.findById(tenantId, checked.audioAssetId),
      this.catalog.resolve(packName),
    ]);
    return validated(checked, packName, avatar, audio, pack);
  }
}

/**
 * Checks a render request against its avatar, audio asset and model pack (as found in the
 * tenant; null: none) and resolves it for the pack. RenderInputException naming the field.
 */
function validated(
  checked: CheckedRenderInput,
  packName: string,
  avatar: { status: string } | null,
  audio: RenderCreateFound['audio'],
  pack: ResolvedPack | null,
): Prepared {
  if (!avatar) throw new RenderInputException('avatarId', 'No such avatar');
  if (avatar.status !== 'READY') {
    throw new RenderInputException(
      'avatarId',
      avatar.status === 'PROCESSING'
        ? 'The avatar is still being prepared; render once it is READY'
        : 'The avatar FAILED preparation and cannot be rendered',
    );
  }
  const audioSeconds = audioDuration(audio);
  if (!pack) {
    throw new RenderInputException(
      'modelPack',
      `Unknown model pack "${packName}" (modelPacks lists the available ones)`,
    );
  }
  const resolved = resolveForPack(checked, pack.facts);
  return {
    checked,
    resolved,
    pack,
    audioSeconds,
    frames: framesFor(audioSeconds, resolved.fps),
  };
}

function audioDuration(audio: RenderCreateFound['audio']): number {
  if (!audio) throw new RenderInputException('audioAssetId', 'No such audio asset');
  if (audio.kind !== 'AUDIO') {
    throw new RenderInputException(
      'audioAssetId',
      `The asset is ${audio.kind === 'IMAGE' ? 'an' : 'a'} ${audio.kind} asset, not AUDIO`,
    );
  }
  const duration = audio.probe['durationSeconds'];
  if (typeof duration !== 'number' || !Number.isFinite(duration) || duration <= 0) {
    throw new RenderInputException('audioAssetId', 'The audio asset has no usable duration');
  }
  return duration;
}

function apiKeyIdOf(principal: Principal): string | null {
  return principal.kind === 'API_KEY' ? principal.apiKeyId : null;
}

function encodeCursor(id: string): string {
  return Buffer.from(`${CURSOR_PREFIX}${id}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const id = text.startsWith(CURSOR_PREFIX) ? text.slice(CURSOR_PREFIX.length) : '';
  if (!UUID_RE.test(id)) {
    throw new RenderInputException('after', 'after is not a cursor from this listing');
  }
  return id;
}
