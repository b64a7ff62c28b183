import { PipelineInputError } from './errors';

/** Prompt guidance scale of the FantasyTalking release (recommended 3–7). */
export const DEFAULT_PROMPT_CFG = 5;
/** Audio guidance scale of the FantasyTalking release (recommended 3–7). */
export const DEFAULT_AUDIO_CFG = 5;
/** Rows of the guidance batch, in the order the denoiser is run on them (B = 3). */
export const GUIDANCE_ROWS = ['uncond', 'text', 'textAudio'] as const;
export type GuidanceRow = (typeof GUIDANCE_ROWS)[number];

export interface GuidanceScales {
  promptCfg?: number;
  audioCfg?: number;
}

function requireScale(field: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new PipelineInputError(field, `must be a finite number ≥ 0, got ${String(value)}`);
  }
  return value;
}

/**
 * v = v_uncond + promptCfg·(v_text − v_uncond) + audioCfg·(v_text_audio − v_text), element-wise.
 * Returns a new array unless `out` is given (it may alias one of the inputs).
 */
export function combineGuidance(
  vUncond: Float32Array,
  vText: Float32Array,
  vTextAudio: Float32Array,
  scales: GuidanceScales = {},
  out?: Float32Array,
): Float32Array {
  const promptCfg = requireScale('promptCfg', scales.promptCfg ?? DEFAULT_PROMPT_CFG);
  const audioCfg = requireScale('audioCfg', scales.audioCfg ?? DEFAULT_AUDIO_CFG);
  const n = vUncond.length;
  if (vText.length !== n)
    throw new PipelineInputError('vText', `has ${vText.length} values, vUncond has ${n}`);
  if (vTextAudio.length !== n) {
    throw new PipelineInputError('vTextAudio', `has ${vTextAudio.length} values, vUncond has ${n}`);
  }
  const target = out ?? new Float32Array(n);
  if (target.length !== n)
    throw new PipelineInputError('out', `has ${target.length} values, vUncond has ${n}`);
  for (let k = 0; k < n; k++) {
    const u = vUncond[k] as number;
    const t = vText[k] as number;
    const ta = vTextAudio[k] as number;
    target[k] = u + promptCfg * (t - u) + audioCfg * (ta - t);
  }
  return target;
}

export type GuidanceBatchRows = Record<GuidanceRow, Float32Array>;

/**
 * Splits a denoiser output of shape [3, ...rest] into its three rows (uncond, text, text+audio).
 * The rows are views into `data` (no copy).
 */
export function splitGuidanceBatch(data: Float32Array, dims: readonly number[]): GuidanceBatchRows {
  if (dims.length < 1 || dims[0] !== GUIDANCE_ROWS.length) {
    throw new PipelineInputError(
      'dims',
      `must start with the batch size 3, got [${dims.join(', ')}]`,
    );
  }
  let size = 1;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new PipelineInputError(
        'dims',
        `must be non-negative integers, got [${dims.join(', ')}]`,
      );
    }
    size *= d;
  }
  if (size !== data.length) {
    throw new PipelineInputError(
      'data',
      `has ${data.length} values, dims [${dims.join(', ')}] need ${size}`,
    );
  }
  const row = size / GUIDANCE_ROWS.length;
  return {
    uncond: data.subarray(0, row),
    text: data.subarray(row, 2 * row),
    textAudio: data.subarray(2 * row, 3 * row),
  };
}
