import { nextAttemptAt, plainSchedule, retryDelayMs, shouldDisable } from './retry-policy';

const defaults = { baseMs: 30_000, maxDelayMs: 4 * 3_600_000, windowSeconds: 86_400 };

describe('webhook retry schedule', () => {
  it('doubles from the base and stops growing at the cap', () => {
    const mid = (): number => 0.5; // jitter factor exactly 1
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, defaults, mid))).toEqual([
      30_000, 60_000, 120_000, 240_000,
    ]);
    expect(retryDelayMs(9, defaults, mid)).toBe(7_680_000); // 30 s · 2^8 = 2 h 8 min
    expect(retryDelayMs(10, defaults, mid)).toBe(4 * 3_600_000); // 4 h 16 min → the 4 h cap
    expect(retryDelayMs(60, defaults, mid)).toBe(4 * 3_600_000);
  });

  it('jitters by ±20 % and never beyond the cap', () => {
    expect(retryDelayMs(1, defaults, () => 0)).toBe(24_000);
    expect(retryDelayMs(1, defaults, () => 0.999999)).toBe(36_000);
    expect(retryDelayMs(20, defaults, () => 0.999999)).toBe(4 * 3_600_000);
    const seen = new Set(Array.from({ length: 50 }, () => retryDelayMs(3, defaults)));
    expect(seen.size).toBeGreaterThan(10);
    for (const d of seen) expect(d >= 96_000 && d <= 144_000).toBe(true);
  });

  it('gives up when the next attempt would fall outside the window', () => {
    const created = new Date('2026-11-25T00:00:00Z');
    const mid = (): number => 0.5;
    const early = nextAttemptAt(created, 1, new Date(created.getTime() + 1000), defaults, mid);
    expect(early?.toISOString()).toBe('2026-11-25T00:00:31.000Z');
    const late = new Date(created.getTime() + 86_400_000 - 60_000);
    expect(nextAttemptAt(created, 14, late, defaults, mid)).toBeNull();
  });

  it('with the defaults, retries about 14 times over 24 hours', () => {
    const schedule = plainSchedule(defaults);
    expect(schedule.length).toBeGreaterThanOrEqual(12);
    expect(schedule.length).toBeLessThanOrEqual(16);
    expect(schedule.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(86_400_000);
  });
});

describe('disabling failing endpoints', () => {
  const rule = { afterFailures: 50, afterSeconds: 3 * 86_400 };
  const now = new Date('2026-11-28T12:00:00Z');
  const daysAgo = (d: number): Date => new Date(now.getTime() - d * 86_400_000);

  it('needs both enough consecutive failures and a long enough run', () => {
    expect(shouldDisable({ failureCount: 50, failingSince: daysAgo(3) }, rule, now)).toBe(true);
    expect(shouldDisable({ failureCount: 500, failingSince: daysAgo(1) }, rule, now)).toBe(false);
    expect(shouldDisable({ failureCount: 49, failingSince: daysAgo(10) }, rule, now)).toBe(false);
    expect(shouldDisable({ failureCount: 80, failingSince: null }, rule, now)).toBe(false);
  });
});
