import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { PipelineInputError, requireInteger } from './errors';
import type { HostTensor, Stage } from './stage';

/** Token count of the byte tokenizer when the pack does not fix one. */
export const DEFAULT_TEXT_TOKENS = 128;

/**
 * The negative prompt of the FantasyTalking release (Wan2.1's standard one with "person
 * motionless, still" in front): the unconditional row of the guidance batch.
 */
export const DEFAULT_NEGATIVE_PROMPT =
  '人物静止不动，静止，色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走';

export interface TokenizedText {
  /** [1, L]: UTF-8 byte + 1 per token, 0 = padding. */
  inputIds: BigInt64Array;
  /** [1, L]: 1 for real tokens, 0 for padding. */
  attentionMask: BigInt64Array;
  /** Real tokens (≤ L). */
  length: number;
}

/**
 * The byte tokenizer every pack uses until the manifest can name a tokenizer (ref-pack
 * contract): UTF-8 bytes, id = byte + 1, 0 = padding, truncated/padded to `length` tokens.
 */
export function tokenizeBytes(text: string, length: number = DEFAULT_TEXT_TOKENS): TokenizedText {
  if (typeof text !== 'string') throw new PipelineInputError('prompt', 'must be a string');
  requireInteger('length', length, 1);
  const bytes = Buffer.from(text, 'utf8');
  const inputIds = new BigInt64Array(length);
  const attentionMask = new BigInt64Array(length);
  const n = Math.min(bytes.length, length);
  for (let k = 0; k < n; k++) {
    inputIds[k] = BigInt((bytes[k] as number) + 1);
    attentionMask[k] = 1n;
  }
  return { inputIds, attentionMask, length: n };
}

/**
 * Prompt contexts of one loaded pack: an LRU of textEncoder outputs keyed by
 * sha256(prompt + pack version), and negative-prompt contexts that are never evicted (the
 * unconditional row uses the same one for every render).
 */
export class TextContextCache {
  private readonly prompts: LRUCache<string, HostTensor>;
  private readonly negatives = new Map<string, Promise<HostTensor>>();
  private readonly pending = new Map<string, Promise<HostTensor>>();
  /** textEncoder runs (cache misses), for tests and metrics. */
  encodes = 0;

  constructor(
    private readonly encoder: Stage,
    private readonly packKey: string,
    private readonly tokens: number,
    maxEntries = 64,
  ) {
    this.prompts = new LRUCache({ max: requireInteger('textCacheSize', maxEntries, 1) });
  }

  /** sha256(prompt + NUL + pack name@version), hex. */
  key(prompt: string): string {
    return createHash('sha256').update(prompt).update('\0').update(this.packKey).digest('hex');
  }

  /** The context [1, L, Dt] of a prompt, from the cache when it has been seen. */
  async prompt(prompt: string): Promise<HostTensor> {
    const key = this.key(prompt);
    const hit = this.prompts.get(key);
    if (hit) return hit;
    // Two renders asking for the same new prompt at once share one encoder run.
    let running = this.pending.get(key);
    if (!running) {
      running = this.encode(prompt).finally(() => this.pending.delete(key));
      this.pending.set(key, running);
    }
    const context = await running;
    this.prompts.set(key, context);
    return context;
  }

  /** The context of a negative prompt, computed once per pack and kept. */
  negative(prompt: string): Promise<HostTensor> {
    const key = this.key(prompt);
    let context = this.negatives.get(key);
    if (!context) {
      context = this.encode(prompt);
      this.negatives.set(key, context);
      context.catch(() => this.negatives.delete(key));
    }
    return context;
  }

  private async encode(prompt: string): Promise<HostTensor> {
    this.encodes++;
    const { inputIds, attentionMask } = tokenizeBytes(prompt, this.tokens);
    const feeds: Record<string, HostTensor<BigInt64Array>> = {
      input_ids: { data: inputIds, dims: [1, this.tokens] },
    };
    if (this.encoder.has('attention_mask')) {
      feeds['attention_mask'] = { data: attentionMask, dims: [1, this.tokens] };
    }
    const { context } = await this.encoder.run(feeds);
    return context as HostTensor;
  }
}
