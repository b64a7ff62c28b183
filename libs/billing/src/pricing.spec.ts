import { thrown } from './test-helpers';
import { ErrorCode } from '@likeness/contracts';
import {
  BillingError,
  BillingErrorCode,
  billableVideoSeconds,
  checkRenderAllowed,
  plans,
  priceRender,
  type RenderAllowanceInput,
} from './index';

describe('billableVideoSeconds: every started second counts', () => {
  it.each<[number, number]>([
    [0, 0],
    [0.001, 1],
    [1, 1],
    [1.001, 2],
    [2.5, 3],
    [15, 15],
    [46 / 23, 2], // 46 frames at 23 fps: exactly 2 s
    [81 / 23, 4], // 81 frames at 23 fps: 3.52 s
    [0.1 + 0.2, 1],
    [3.0000000000000004, 3], // float noise is not a started second
    [3 + 1e-7, 3],
    [3 + 1e-4, 4],
  ])('%p s → %p', (seconds, billed) => {
    expect(billableVideoSeconds(seconds)).toBe(billed);
  });

  it.each([-1, -0.5, Number.NaN, Number.POSITIVE_INFINITY])('rejects %p', (seconds) => {
    const error = thrown(() => billableVideoSeconds(seconds));
    expect(error).toBeInstanceOf(BillingError);
    expect(error).toMatchObject({
      code: BillingErrorCode.INVALID_QUANTITY,
      field: 'videoSeconds',
    });
  });
});

describe('priceRender', () => {
  // Rates: free 0, starter 10, pro 8, enterprise 6 cents per billed second.
  it.each<[keyof typeof plans, number, number]>([
    ['free', 12.3, 0],
    ['starter', 0, 0],
    ['starter', 0.2, 10],
    ['starter', 10, 100],
    ['starter', 10.01, 110],
    ['starter', 81 / 23, 40],
    ['starter', 3.0000000000000004, 30],
    ['pro', 0.5, 8],
    ['pro', 60, 480],
    ['pro', 59.5, 480],
    ['enterprise', 600, 3_600],
    ['enterprise', 600.25, 3_606],
  ])('%s, %p s → %p cents', (plan, videoSeconds, cents) => {
    const price = priceRender({ plan: plans[plan], videoSeconds });
    expect(price).toBe(cents);
    expect(Number.isInteger(price)).toBe(true);
  });

  it.each([-1, Number.NaN, 1e300])('refuses to price %p seconds', (videoSeconds) => {
    const error = thrown(() => priceRender({ plan: plans.starter, videoSeconds }));
    expect(error).toBeInstanceOf(BillingError);
    expect(error).toMatchObject({ code: BillingErrorCode.INVALID_QUANTITY, field: 'videoSeconds' });
  });
});

describe('checkRenderAllowed', () => {
  // starter: 2 concurrent renders, 60 s of audio per render, 600 s a month, 10 cents a second.
  const base: RenderAllowanceInput = {
    plan: plans.starter,
    audioSeconds: 10,
    runningRenders: 0,
    videoSecondsUsedThisMonth: 0,
  };

  it.each<[string, Partial<RenderAllowanceInput>, number, number]>([
    ['a plain render', {}, 10, 100],
    ['audio exactly at the per-render limit', { audioSeconds: 60 }, 60, 600],
    ['monthly seconds used up exactly', { videoSecondsUsedThisMonth: 590 }, 10, 100],
    [
      'monthly seconds used up exactly, counting billed seconds',
      { videoSecondsUsedThisMonth: 590, audioSeconds: 9.5 },
      10,
      100,
    ],
    ['spend reaching the cap exactly', { spendCapCents: 1_000, spentThisMonthCents: 900 }, 10, 100],
    ['no cap', { spendCapCents: null, spentThisMonthCents: 1_000_000 }, 10, 100],
    ['one slot left', { runningRenders: 1 }, 10, 100],
  ])('allows %s', (_label, overrides, billedSeconds, priceCents) => {
    expect(checkRenderAllowed({ ...base, ...overrides })).toEqual({
      allowed: true,
      billedSeconds,
      priceCents,
    });
  });

  it.each<[string, Partial<RenderAllowanceInput>, string, string, string | undefined]>([
    [
      'audio one millisecond over the per-render limit',
      { audioSeconds: 60.001 },
      ErrorCode.QUOTA_EXCEEDED,
      'maxAudioSeconds',
      'audioAssetId',
    ],
    [
      'one second over the monthly seconds',
      { videoSecondsUsedThisMonth: 591 },
      ErrorCode.QUOTA_EXCEEDED,
      'monthlyVideoSeconds',
      undefined,
    ],
    [
      'a started second over the monthly seconds',
      { videoSecondsUsedThisMonth: 591, audioSeconds: 9.5 },
      ErrorCode.QUOTA_EXCEEDED,
      'monthlyVideoSeconds',
      undefined,
    ],
    [
      'one cent over the spend cap',
      { spendCapCents: 1_000, spentThisMonthCents: 901 },
      ErrorCode.SPEND_CAP_EXCEEDED,
      'spendCap',
      undefined,
    ],
    [
      'all render slots taken',
      { runningRenders: 2 },
      ErrorCode.QUOTA_EXCEEDED,
      'maxConcurrentRenders',
      undefined,
    ],
  ])('refuses %s', (_label, overrides, code, limit, field) => {
    const result = checkRenderAllowed({ ...base, ...overrides });
    expect(result).toMatchObject({ allowed: false, code, limit });
    if (result.allowed) throw new Error('unreachable');
    expect(result.field).toBe(field);
    expect(result.reason).toEqual(expect.any(String));
  });

  it('names the numbers in the reason', () => {
    const result = checkRenderAllowed({ ...base, videoSecondsUsedThisMonth: 595 });
    expect(result).toMatchObject({
      allowed: false,
      reason:
        "this render needs 10 s of video but 5 s of the Starter plan's 600 s this month are left",
    });
    expect(checkRenderAllowed({ ...base, audioSeconds: 61.23456 })).toMatchObject({
      reason: 'the audio is 61.235 s long; the Starter plan allows at most 60 s per render',
    });
    expect(checkRenderAllowed({ ...base, runningRenders: 2 })).toMatchObject({
      reason: '2 renders are running; the Starter plan runs at most 2 at a time',
    });
    expect(
      checkRenderAllowed({ ...base, spendCapCents: 1_000, spentThisMonthCents: 950 }),
    ).toMatchObject({
      reason:
        "this render costs 100 cents and would take this month's spend past the cap of 1000 cents",
    });
  });

  it.each<[string, Partial<RenderAllowanceInput>, string]>([
    [
      'audio length before everything else',
      {
        audioSeconds: 61,
        runningRenders: 2,
        videoSecondsUsedThisMonth: 600,
        spendCapCents: 0,
        spentThisMonthCents: 0,
      },
      'maxAudioSeconds',
    ],
    [
      'monthly seconds before the spend cap',
      {
        videoSecondsUsedThisMonth: 600,
        spendCapCents: 0,
        spentThisMonthCents: 0,
        runningRenders: 2,
      },
      'monthlyVideoSeconds',
    ],
    [
      'the spend cap before concurrency',
      { spendCapCents: 0, spentThisMonthCents: 0, runningRenders: 2 },
      'spendCap',
    ],
  ])('reports %s', (_label, overrides, limit) => {
    expect(checkRenderAllowed({ ...base, ...overrides })).toMatchObject({ allowed: false, limit });
  });

  it('uses the free plan limits and never refuses a free render for spend', () => {
    const free = { ...base, plan: plans.free };
    expect(checkRenderAllowed({ ...free, audioSeconds: 15 })).toEqual({
      allowed: true,
      billedSeconds: 15,
      priceCents: 0,
    });
    expect(checkRenderAllowed({ ...free, audioSeconds: 15.5 })).toMatchObject({
      allowed: false,
      limit: 'maxAudioSeconds',
    });
    expect(checkRenderAllowed({ ...free, runningRenders: 1 })).toMatchObject({
      allowed: false,
      limit: 'maxConcurrentRenders',
    });
    expect(
      checkRenderAllowed({ ...free, spendCapCents: 100, spentThisMonthCents: 500 }),
    ).toMatchObject({ allowed: true, priceCents: 0 });
  });

  it.each<[Partial<RenderAllowanceInput>, string]>([
    [{ audioSeconds: -1 }, 'audioSeconds'],
    [{ audioSeconds: Number.NaN }, 'audioSeconds'],
    [{ runningRenders: -1 }, 'runningRenders'],
    [{ runningRenders: 1.5 }, 'runningRenders'],
    [{ videoSecondsUsedThisMonth: -3 }, 'videoSecondsUsedThisMonth'],
    [{ spendCapCents: -5, spentThisMonthCents: 0 }, 'spendCapCents'],
    [{ spendCapCents: 10.5, spentThisMonthCents: 0 }, 'spendCapCents'],
    [{ spendCapCents: 1_000 }, 'spentThisMonthCents'],
    [{ spendCapCents: 1_000, spentThisMonthCents: -1 }, 'spentThisMonthCents'],
  ])('throws for invalid input %p', (overrides, field) => {
    const error = thrown(() => checkRenderAllowed({ ...base, ...overrides }));
    expect(error).toBeInstanceOf(BillingError);
    expect(error).toMatchObject({ code: BillingErrorCode.INVALID_QUANTITY, field });
  });
});
