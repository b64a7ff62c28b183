import { ErrorCode } from '@likeness/contracts';
import { LikenessException } from '../errors/likeness.exception';
import {
  checkIdempotencyKey,
  checkRenderInput,
  framesFor,
  inputHash,
  resolveForPack,
  type PackFacts,
} from './render-input';
import type { RenderInput } from './render.model';

const ids = {
  avatarId: '0b1e8f3a-2c4d-4e5f-8a9b-0c1d2e3f4a5b',
  audioAssetId: '1b1e8f3a-2c4d-4e5f-8a9b-0c1d2e3f4a5b',
};
const pack: PackFacts = {
  name: 'reference',
  version: '1.2.0',
  capabilities: { identity: true, motion: true, maxSide: 768 },
  fps: 23,
};

function thrown(fn: () => unknown): LikenessException {
  try {
    fn();
  } catch (error) {
    if (error instanceof LikenessException) return error;
    throw error;
  }
  throw new Error('did not throw');
}

describe('checkRenderInput', () => {
  it('fills the defaults and keeps what was given', () => {
    expect(checkRenderInput({ ...ids })).toEqual({
      ...ids,
      prompt: 'A person is talking.',
      motion: null,
      guidance: { prompt: 5, audio: 5 },
      maxSide: null,
      fps: null,
      steps: 30,
      seed: null,
      modelPack: null,
      priority: 0,
    });
    expect(
      checkRenderInput({
        ...ids,
        prompt: '  A woman sings.  ',
        motion: { expression: 0 },
        guidance: { audio: 0 },
        maxSide: 256,
        seed: 2 ** 31 - 1,
        priority: -10,
      }),
    ).toMatchObject({
      prompt: 'A woman sings.',
      motion: { expression: 0, body: 1 },
      guidance: { prompt: 5, audio: 0 },
      maxSide: 256,
      seed: 2147483647,
      priority: -10,
    });
  });

  it.each<[Partial<RenderInput>, string]>([
    [{ motion: { expression: Number.NaN } }, 'motion.expression'],
    [{ guidance: { prompt: 20.01 } }, 'guidance.prompt'],
    [{ maxSide: 520.5 }, 'maxSide'],
    [{ steps: 2.5 }, 'steps'],
    [{ seed: 2 ** 31 }, 'seed'],
    [{ prompt: 'bell\u0007' }, 'prompt'],
    [{ modelPack: '../x' }, 'modelPack'],
    [{ audioAssetId: 'x' }, 'audioAssetId'],
  ])('refuses %j naming %s', (change, field) => {
    const error = thrown(() => checkRenderInput({ ...ids, ...change }));
    expect({ code: error.code, field: error.extra.field }).toEqual({
      code: ErrorCode.BAD_USER_INPUT,
      field,
    });
  });
});

describe('resolveForPack', () => {
  it('takes fps and maxSide from the pack, full motion when it has motion, the given seed', () => {
    const resolved = resolveForPack(checkRenderInput({ ...ids, seed: 5 }), pack, () => 99);
    expect(resolved).toMatchObject({
      fps: 23,
      maxSide: 512,
      motion: { expression: 1, body: 1 },
      seed: 5,
      modelPack: 'reference',
      modelPackVersion: '1.2.0',
    });
    const small = { ...pack, capabilities: { ...pack.capabilities, maxSide: 300, motion: false } };
    expect(resolveForPack(checkRenderInput(ids), small, () => 99)).toMatchObject({
      maxSide: 288,
      motion: null,
      seed: 99,
    });
  });

  it.each<[Partial<RenderInput>, PackFacts, string]>([
    [
      { motion: { body: 0.2 } },
      { ...pack, capabilities: { ...pack.capabilities, motion: false } },
      'motion',
    ],
    [{ maxSide: 784 }, pack, 'maxSide'],
    [{ fps: 25 }, pack, 'fps'],
  ])('refuses %j as UNSUPPORTED_BY_MODEL naming %s', (change, facts, field) => {
    const error = thrown(() => resolveForPack(checkRenderInput({ ...ids, ...change }), facts));
    expect({ code: error.code, field: error.extra.field }).toEqual({
      code: ErrorCode.UNSUPPORTED_BY_MODEL,
      field,
    });
  });
});

describe('idempotency and frames', () => {
  it('hashes the input as given: equal requests match, any change does not', () => {
    const a = inputHash(checkRenderInput({ ...ids }), 'reference');
    expect(
      inputHash(checkRenderInput({ ...ids, prompt: 'A person is talking.' }), 'reference'),
    ).toBe(a);
    expect(inputHash(checkRenderInput({ ...ids, modelPack: 'reference' }), 'reference')).toBe(a);
    expect(inputHash(checkRenderInput({ ...ids, steps: 31 }), 'reference')).not.toBe(a);
    expect(inputHash(checkRenderInput({ ...ids, seed: 1 }), 'reference')).not.toBe(a);
  });

  it('checks keys', () => {
    expect(checkIdempotencyKey(undefined)).toBeNull();
    expect(checkIdempotencyKey('order-1')).toBe('order-1');
    expect(thrown(() => checkIdempotencyKey('a\nb')).extra.field).toBe('idempotencyKey');
  });

  it('counts every started frame', () => {
    expect(framesFor(2, 23)).toBe(46);
    expect(framesFor(2.01, 23)).toBe(47);
    expect(framesFor(0.001, 23)).toBe(1);
  });
});
