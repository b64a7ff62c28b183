import type { RenderPhase as WorkerPhase } from '@likeness/contracts';
import type { JsonObject, JsonValue, Render as RenderRow } from '@likeness/db';
import {
  CURRENCY,
  RenderPhase,
  RenderStatus,
  type Render,
  type RenderError,
  type RenderProgress,
} from './render.model';

/** The worker's phase names (contracts) → the API's enum. */
const PHASES: Record<WorkerPhase, RenderPhase> = {
  preparing: RenderPhase.PREPARING,
  'encoding-audio': RenderPhase.ENCODING_AUDIO,
  denoising: RenderPhase.DENOISING,
  decoding: RenderPhase.DECODING,
  encoding: RenderPhase.ENCODING,
  uploading: RenderPhase.UPLOADING,
};

export function isFinished(status: string): boolean {
  return status === 'SUCCEEDED' || status === 'FAILED' || status === 'CANCELED';
}

function record(value: JsonValue | null | undefined): Record<string, JsonValue> | null {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : null;
}

function numberIn(object: Record<string, unknown> | null, key: string): number | null {
  const value = object?.[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function stringIn(object: Record<string, unknown> | null, key: string): string | null {
  const value = object?.[key];
  return typeof value === 'string' ? value : null;
}

function motionOf(controls: JsonObject): { expression: number; body: number } | null {
  const motion = record(controls['motion']);
  if (!motion) return null;
  return { expression: numberIn(motion, 'expression') ?? 1, body: numberIn(motion, 'body') ?? 1 };
}

/**
 * A render's recorded controls (`renders.controls`) with their defaults filled in: what the API
 * echoes in `input` and what the worker's job payload carries.
 */
export function renderControls(controls: JsonObject): {
  motion: { expression: number; body: number } | null;
  guidance: { prompt: number; audio: number };
  maxSide: number;
  fps: number;
  steps: number;
} {
  const guidance = record(controls['guidance']);
  return {
    motion: motionOf(controls),
    guidance: {
      prompt: numberIn(guidance, 'prompt') ?? 5,
      audio: numberIn(guidance, 'audio') ?? 5,
    },
    maxSide: numberIn(controls, 'maxSide') ?? 512,
    fps: numberIn(controls, 'fps') ?? 23,
    steps: numberIn(controls, 'steps') ?? 30,
  };
}

function progressOf(row: RenderRow): RenderProgress | null {
  if (row.status !== 'RUNNING' && row.status !== 'ENCODING') return null;
  const p = record(row.progress);
  const phase = stringIn(p, 'phase');
  if (!p || phase === null || !(phase in PHASES)) return null;
  return {
    phase: PHASES[phase as WorkerPhase],
    clip: numberIn(p, 'clip') ?? 0,
    clips: numberIn(p, 'clips') ?? 1,
    step: numberIn(p, 'step') ?? 0,
    totalSteps: numberIn(p, 'totalSteps') ?? 0,
    fraction: numberIn(p, 'fraction') ?? 0,
    etaSeconds: numberIn(p, 'etaSeconds'),
    previewKey: stringIn(p, 'previewKey'),
    renderId: row.id,
  };
}

function errorOf(value: JsonValue | null): RenderError | null {
  const e = record(value);
  if (!e) return null;
  return {
    code: stringIn(e, 'code') ?? 'INTERNAL',
    message: stringIn(e, 'message') ?? 'The render failed',
    field: stringIn(e, 'field'),
    ourFault: e['ourFault'] === true,
  };
}

/** A render row (or a RenderEvent's snapshot of one) as the API shows it. */
export function toRenderNode(row: RenderRow): Render {
  const finished = isFinished(row.status);
  return {
    id: row.id,
    tenantId: row.tenantId,
    avatarId: row.avatarId,
    outputAssetId: row.outputAssetId,
    admittedAt: row.admittedAt,
    status: row.status as RenderStatus,
    createdAt: row.createdAt,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
    seed: row.seed,
    modelPack: row.modelPack,
    modelPackVersion: row.modelPackVersion,
    input: {
      avatarId: row.avatarId,
      audioAssetId: row.audioAssetId,
      prompt: row.prompt,
      ...renderControls(row.controls),
      seed: row.seed,
      modelPack: row.modelPack,
      priority: row.priority,
    },
    progress: progressOf(row),
    frames: row.frames,
    audioSeconds: row.audioSeconds,
    identityScore: row.identityScore,
    quote: { amountCents: row.quotedCents, currency: CURRENCY },
    cost: finished ? { amountCents: row.costCents ?? 0, currency: CURRENCY } : null,
    error: errorOf(row.error),
    attempts: row.runs,
    cancelRequestedAt: row.cancelRequestedAt,
    deadlineAt: row.deadlineAt,
    idempotencyKey: row.idempotencyKey,
  };
}

/** The `data` of render webhooks: the render without links (they expire; read it for one). */
export function renderWebhookData(row: RenderRow): JsonObject {
  const node = toRenderNode(row);
  return {
    render: {
      id: node.id,
      status: node.status,
      createdAt: node.createdAt.toISOString(),
      startedAt: node.startedAt?.toISOString() ?? null,
      finishedAt: node.finishedAt?.toISOString() ?? null,
      avatarId: node.avatarId,
      seed: node.seed,
      modelPack: node.modelPack,
      modelPackVersion: node.modelPackVersion,
      attempts: node.attempts,
      outputAssetId: node.outputAssetId,
      identityScore: node.identityScore,
      cost: node.cost ? { ...node.cost } : null,
      error: node.error ? { ...node.error } : null,
      idempotencyKey: node.idempotencyKey,
    },
  };
}
