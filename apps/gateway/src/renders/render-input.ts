import { createHash, randomInt } from 'node:crypto';
import { SIDE_MULTIPLE } from '@likeness/contracts';
import type { JsonObject } from '@likeness/db';
import { RenderInputException, UnsupportedByModelException } from './render.errors';
import type { RenderInput } from './render.model';

export const DEFAULT_PROMPT = 'A person is talking.';
export const PROMPT_MAX_LENGTH = 2000;
export const DEFAULT_GUIDANCE = 5;
export const GUIDANCE_MAX = 20;
export const DEFAULT_STEPS = 30;
export const STEPS_MAX = 100;
export const DEFAULT_MAX_SIDE = 512;
export const MIN_SIDE = 64;
export const DEFAULT_MOTION = 1;
export const SEED_MAX = 2 ** 31 - 1;
export const PRIORITY_LIMIT = 10;
export const IDEMPOTENCY_KEY_MAX = 255;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PACK_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
// Control characters other than tab and newline.
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

/** The model pack facts a render is checked against (a live advertisement or the last one). */
export interface PackFacts {
  name: string;
  version: string;
  capabilities: { identity: boolean; motion: boolean; maxSide: number };
  fps: number;
}

/** RenderInput after the checks that need no I/O; pack-dependent defaults not applied yet. */
export interface CheckedRenderInput {
  avatarId: string;
  audioAssetId: string;
  prompt: string;
  /** As given (absent fields already 1); null when not asked for. */
  motion: { expression: number; body: number } | null;
  guidance: { prompt: number; audio: number };
  maxSide: number | null;
  fps: number | null;
  steps: number;
  seed: number | null;
  modelPack: string | null;
  priority: number;
}

/** Everything a render runs with: stored as the render's controls and sent to the worker. */
export interface ResolvedRenderInput {
  avatarId: string;
  audioAssetId: string;
  prompt: string;
  motion: { expression: number; body: number } | null;
  guidance: { prompt: number; audio: number };
  maxSide: number;
  fps: number;
  steps: number;
  seed: number;
  modelPack: string;
  modelPackVersion: string;
  priority: number;
}

function bad(field: string, message: string): never {
  throw new RenderInputException(field, message);
}

function inRange(field: string, value: number, min: number, max: number): number {
  if (!Number.isFinite(value) || value < min || value > max) {
    bad(field, `${field} must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

function intInRange(field: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value)) bad(field, `${field} must be a whole number, got ${value}`);
  return inRange(field, value, min, max);
}

function given<T>(value: T | null | undefined): value is T {
  return value !== null && value !== undefined;
}

/** BAD_USER_INPUT naming the field for everything that can be judged without I/O. */
export function checkRenderInput(input: RenderInput): CheckedRenderInput {
  if (!UUID_RE.test(input.avatarId)) bad('avatarId', 'No such avatar');
  if (!UUID_RE.test(input.audioAssetId)) bad('audioAssetId', 'No such audio asset');

  let prompt = DEFAULT_PROMPT;
  if (given(input.prompt)) {
    const trimmed = input.prompt.trim();
    if (trimmed.length > PROMPT_MAX_LENGTH) {
      bad('prompt', `prompt must be at most ${PROMPT_MAX_LENGTH} characters`);
    }
    if (CONTROL_RE.test(trimmed)) bad('prompt', 'prompt must not contain control characters');
    if (trimmed.length > 0) prompt = trimmed;
  }

  let motion: CheckedRenderInput['motion'] = null;
  if (given(input.motion)) {
    motion = {
      expression: given(input.motion.expression)
        ? inRange('motion.expression', input.motion.expression, 0, 1)
        : DEFAULT_MOTION,
      body: given(input.motion.body)
        ? inRange('motion.body', input.motion.body, 0, 1)
        : DEFAULT_MOTION,
    };
  }

  const guidance = {
    prompt: given(input.guidance?.prompt)
      ? inRange('guidance.prompt', input.guidance.prompt, 0, GUIDANCE_MAX)
      : DEFAULT_GUIDANCE,
    audio: given(input.guidance?.audio)
      ? inRange('guidance.audio', input.guidance.audio, 0, GUIDANCE_MAX)
      : DEFAULT_GUIDANCE,
  };

  let maxSide: number | null = null;
  if (given(input.maxSide)) {
    maxSide = intInRange('maxSide', input.maxSide, MIN_SIDE, 4096);
    if (maxSide % SIDE_MULTIPLE !== 0) {
      bad('maxSide', `maxSide must be a multiple of ${SIDE_MULTIPLE}, got ${maxSide}`);
    }
  }
  const fps = given(input.fps) ? intInRange('fps', input.fps, 1, 60) : null;
  const steps = given(input.steps) ? intInRange('steps', input.steps, 1, STEPS_MAX) : DEFAULT_STEPS;
  const seed = given(input.seed) ? intInRange('seed', input.seed, 0, SEED_MAX) : null;
  const priority = given(input.priority)
    ? intInRange('priority', input.priority, -PRIORITY_LIMIT, PRIORITY_LIMIT)
    : 0;

  let modelPack: string | null = null;
  if (given(input.modelPack)) {
    if (!PACK_NAME_RE.test(input.modelPack)) {
      bad('modelPack', 'modelPack must be a model pack name such as "reference" (see modelPacks)');
    }
    modelPack = input.modelPack;
  }
  return {
    avatarId: input.avatarId.toLowerCase(),
    audioAssetId: input.audioAssetId.toLowerCase(),
    prompt,
    motion,
    guidance,
    maxSide,
    fps,
    steps,
    seed,
    modelPack,
    priority,
  };
}

/**
 * The checked input against the model pack's capabilities (UNSUPPORTED_BY_MODEL naming the
 * control the pack cannot honour) with every default filled in; a random seed when none given.
 */
export function resolveForPack(
  input: CheckedRenderInput,
  pack: PackFacts,
  randomSeed: () => number = () => randomInt(0, SEED_MAX + 1),
): ResolvedRenderInput {
  if (input.motion !== null && !pack.capabilities.motion) {
    throw new UnsupportedByModelException(
      'motion',
      `model pack "${pack.name}" has no motion control; leave motion out or choose a pack that has it`,
    );
  }
  if (input.maxSide !== null && input.maxSide > pack.capabilities.maxSide) {
    throw new UnsupportedByModelException(
      'maxSide',
      `model pack "${pack.name}" renders at most ${pack.capabilities.maxSide} pixels on the long side, not ${input.maxSide}`,
    );
  }
  if (input.fps !== null && input.fps !== pack.fps) {
    throw new UnsupportedByModelException(
      'fps',
      `model pack "${pack.name}" renders at ${pack.fps} fps only, not ${input.fps}`,
    );
  }
  return {
    avatarId: input.avatarId,
    audioAssetId: input.audioAssetId,
    prompt: input.prompt,
    motion: pack.capabilities.motion
      ? (input.motion ?? { expression: DEFAULT_MOTION, body: DEFAULT_MOTION })
      : null,
    guidance: input.guidance,
    maxSide:
      input.maxSide ??
      Math.min(
        DEFAULT_MAX_SIDE,
        pack.capabilities.maxSide - (pack.capabilities.maxSide % SIDE_MULTIPLE),
      ),
    fps: pack.fps,
    steps: input.steps,
    seed: input.seed ?? randomSeed(),
    modelPack: pack.name,
    modelPackVersion: pack.version,
    priority: input.priority,
  };
}

/**
 * What an idempotency key is compared by: the input as given (defaults that do not depend on a
 * pack filled in, no random seed), so a retry of the same request matches.
 */
export function inputHash(input: CheckedRenderInput, defaultPack: string): string {
  const canonical = JSON.stringify([
    input.avatarId,
    input.audioAssetId,
    input.prompt,
    input.motion,
    input.guidance,
    input.maxSide,
    input.fps,
    input.steps,
    input.seed,
    input.modelPack ?? defaultPack,
    input.priority,
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

export function checkIdempotencyKey(key: string | null | undefined): string | null {
  if (!given(key)) return null;
  if (key.length === 0 || key.length > IDEMPOTENCY_KEY_MAX) {
    bad('idempotencyKey', `idempotencyKey must be 1 to ${IDEMPOTENCY_KEY_MAX} characters`);
  }
  if (CONTROL_RE.test(key) || /[\t\n]/.test(key)) {
    bad('idempotencyKey', 'idempotencyKey must not contain control characters');
  }
  return key;
}

/** Frames the audio makes at `fps` (every started frame), at least one. */
export function framesFor(audioSeconds: number, fps: number): number {
  return Math.max(1, Math.ceil(audioSeconds * fps - 1e-6));
}

/** The render's stored controls (Render.controls). */
export function controlsOf(input: ResolvedRenderInput): JsonObject {
  return {
    motion: input.motion,
    guidance: input.guidance,
    maxSide: input.maxSide,
    fps: input.fps,
    steps: input.steps,
  };
}
