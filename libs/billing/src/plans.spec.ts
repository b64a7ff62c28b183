import { thrown } from './test-helpers';
import {
  BillingError,
  BillingErrorCode,
  UnknownPlanError,
  getPlan,
  isPlanId,
  planIds,
  plans,
  type Plan,
} from './index';

const numericFields = [
  'maxConcurrentRenders',
  'maxAudioSeconds',
  'monthlyVideoSeconds',
  'maxUploadBytes',
  'maxImageMegapixels',
  'maxAudioUploadSeconds',
  'pricePerVideoSecondCents',
  'requestsPerMinute',
] as const satisfies readonly (keyof Plan)[];

describe('plans', () => {
  it('has exactly the four plans, each under its own id', () => {
    expect(planIds).toEqual(['free', 'starter', 'pro', 'enterprise']);
    expect(Object.keys(plans).sort()).toEqual([...planIds].sort());
    for (const id of planIds) {
      expect(plans[id].id).toBe(id);
      expect(getPlan(id)).toBe(plans[id]);
    }
  });

  it('gives the free plan (every new tenant and the demo tenant) these limits', () => {
    expect(getPlan('free')).toEqual({
      id: 'free',
      name: 'Free',
      maxConcurrentRenders: 1,
      maxAudioSeconds: 15,
      monthlyVideoSeconds: 60,
      maxUploadBytes: 20 * 1024 * 1024,
      maxImageMegapixels: 12,
      maxAudioUploadSeconds: 60,
      pricePerVideoSecondCents: 0,
      requestsPerMinute: 60,
    });
  });

  it.each(planIds)('%s: every number is a non-negative integer (no floats for money)', (id) => {
    for (const field of numericFields) {
      const value = plans[id][field];
      expect({ field, integer: Number.isSafeInteger(value) && value >= 0 }).toEqual({
        field,
        integer: true,
      });
    }
  });

  it.each(planIds)('%s: its limits are consistent with each other', (id) => {
    const plan = plans[id];
    expect(plan.maxConcurrentRenders).toBeGreaterThanOrEqual(1);
    expect(plan.maxAudioUploadSeconds).toBeGreaterThanOrEqual(plan.maxAudioSeconds);
    expect(plan.monthlyVideoSeconds).toBeGreaterThanOrEqual(plan.maxAudioSeconds);
  });

  it('never gives a higher plan a lower limit or a higher price', () => {
    let lower: Plan | undefined;
    for (const id of planIds) {
      const higher = plans[id];
      if (lower === undefined) {
        lower = higher;
        continue;
      }
      for (const field of numericFields) {
        if (field === 'pricePerVideoSecondCents') continue;
        expect({ field, ok: higher[field] >= lower[field] }).toEqual({ field, ok: true });
      }
      if (lower.pricePerVideoSecondCents > 0) {
        expect(higher.pricePerVideoSecondCents).toBeLessThanOrEqual(lower.pricePerVideoSecondCents);
      }
      lower = higher;
    }
  });

  it('cannot be changed at run time', () => {
    expect(Object.isFrozen(plans)).toBe(true);
    for (const id of planIds) expect(Object.isFrozen(plans[id])).toBe(true);
    expect(() => {
      (plans.free as { maxConcurrentRenders: number }).maxConcurrentRenders = 100;
    }).toThrow(TypeError);
    expect(plans.free.maxConcurrentRenders).toBe(1);
  });

  it.each<[unknown, boolean]>([
    ['free', true],
    ['starter', true],
    ['pro', true],
    ['enterprise', true],
    ['Free', false],
    ['gold', false],
    ['', false],
    ['toString', false],
    ['__proto__', false],
    ['constructor', false],
    [undefined, false],
    [null, false],
    [1, false],
    [{}, false],
  ])('isPlanId(%p) is %p', (value, expected) => {
    expect(isPlanId(value)).toBe(expected);
  });

  it.each(['gold', '', 'FREE', 'toString', '__proto__'])(
    'getPlan(%j) throws UnknownPlanError',
    (id) => {
      const error = thrown(() => getPlan(id));
      expect(error).toBeInstanceOf(UnknownPlanError);
      expect(error).toBeInstanceOf(BillingError);
      expect(error).toMatchObject({
        code: BillingErrorCode.UNKNOWN_PLAN,
        field: 'plan',
        planId: id,
      });
    },
  );
});
