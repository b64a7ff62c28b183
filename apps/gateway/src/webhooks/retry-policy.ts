import type { AppConfig } from '../config/config';

export type RetrySettings = AppConfig['webhooks']['retry'];
export type DisableRule = AppConfig['webhooks']['disable'];

/** ±20 % around the exponential delay, so endpoints that failed together do not retry together. */
const JITTER = 0.2;

/**
 * How long to wait after failed attempt number `attempt` (1-based): baseMs · 2^(attempt−1),
 * capped at maxDelayMs, times a jitter factor in [0.8, 1.2) (the cap applies after jitter too).
 */
export function retryDelayMs(
  attempt: number,
  retry: Pick<RetrySettings, 'baseMs' | 'maxDelayMs'>,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 40);
  const plain = Math.min(retry.baseMs * 2 ** exponent, retry.maxDelayMs);
  const jittered = plain * (1 - JITTER + 2 * JITTER * random());
  return Math.max(1, Math.round(Math.min(jittered, retry.maxDelayMs)));
}

/**
 * When to try again after failed attempt `attempt` of a delivery created at `createdAt`, or
 * null when that would fall outside the retry window (the delivery has then failed for good).
 */
export function nextAttemptAt(
  createdAt: Date,
  attempt: number,
  now: Date,
  retry: RetrySettings,
  random: () => number = Math.random,
): Date | null {
  const at = now.getTime() + retryDelayMs(attempt, retry, random);
  return at <= createdAt.getTime() + retry.windowSeconds * 1000 ? new Date(at) : null;
}

/**
 * Whether an endpoint's run of failures should disable it: at least `afterFailures`
 * consecutive failed attempts AND the run began at least `afterSeconds` ago. Both, so that a
 * burst of events during a short outage does not disable a healthy endpoint, and one slow
 * trickle of failures is not judged on too few attempts.
 */
export function shouldDisable(
  run: { failureCount: number; failingSince: Date | null },
  rule: DisableRule,
  now: Date,
): boolean {
  return (
    run.failureCount >= rule.afterFailures &&
    run.failingSince !== null &&
    now.getTime() - run.failingSince.getTime() >= rule.afterSeconds * 1000
  );
}

/** The plain (jitter-free) schedule, for documentation and tests: delays until the window ends. */
export function plainSchedule(retry: RetrySettings): number[] {
  const delays: number[] = [];
  let elapsed = 0;
  for (let attempt = 1; attempt < 1000; attempt++) {
    const delay = retryDelayMs(attempt, retry, () => 0.5);
    if (elapsed + delay > retry.windowSeconds * 1000) break;
    elapsed += delay;
    delays.push(delay);
  }
  return delays;
}
