import { ErrorCode } from '@likeness/contracts';
import { BillingError, BillingErrorCode } from './errors';
import type { Plan } from './plans';

/**
 * Video durations come from float arithmetic (frames / fps), so 3 s can arrive as
 * 3.0000000000000004. Anything within a microsecond of a whole second counts as that second;
 * a real extra frame is at least ~16 ms (60 fps), far above this.
 */
const WHOLE_SECOND_TOLERANCE = 1e-6;

/**
 * Seconds charged for a video of `videoSeconds`: every started second is charged, so the
 * duration is rounded up to a whole second (0 stays 0). This is also the quantity recorded in
 * the usage ledger and counted against `monthlyVideoSeconds`.
 */
export function billableVideoSeconds(videoSeconds: number): number {
  assertQuantity(videoSeconds, 'videoSeconds');
  return Math.max(0, Math.ceil(videoSeconds - WHOLE_SECOND_TOLERANCE));
}

/** Price in cents of a render of `videoSeconds` on `plan`: billed seconds × the plan's rate. */
export function priceRender(input: { plan: Plan; videoSeconds: number }): number {
  const cents = billableVideoSeconds(input.videoSeconds) * input.plan.pricePerVideoSecondCents;
  if (!Number.isSafeInteger(cents)) {
    throw new BillingError(
      BillingErrorCode.INVALID_QUANTITY,
      `videoSeconds ${input.videoSeconds} is too large to price`,
      'videoSeconds',
    );
  }
  return cents;
}

export interface RenderAllowanceInput {
  plan: Plan;
  /** Length of the render's audio track; the video is as long as the audio. */
  audioSeconds: number;
  /** The tenant's renders running now. */
  runningRenders: number;
  /** Billed video seconds already used this calendar month (from the usage ledger). */
  videoSecondsUsedThisMonth: number;
  /** Monthly spend cap in cents (tenant's or API key's); absent or null means no cap. */
  spendCapCents?: number | null;
  /** Spent this month in cents; required when `spendCapCents` is set. */
  spentThisMonthCents?: number;
}

/** Which limit refused a render. */
export type RenderLimit =
  'maxAudioSeconds' | 'monthlyVideoSeconds' | 'spendCap' | 'maxConcurrentRenders';

export type RenderAllowance =
  | {
      allowed: true;
      /** What the render will be charged, so callers need not price it again. */
      billedSeconds: number;
      priceCents: number;
    }
  | {
      allowed: false;
      /** A public error code of contracts, for `extensions.code`. */
      code: typeof ErrorCode.QUOTA_EXCEEDED | typeof ErrorCode.SPEND_CAP_EXCEEDED;
      limit: RenderLimit;
      /** A sentence for the caller, naming the limit and the plan. */
      reason: string;
      /** The input at fault, for `extensions.field`, when one is. */
      field?: string;
    };

/**
 * Whether `plan` allows one more render now. Every limit is inclusive: exactly at the limit is
 * allowed, one unit over is refused. Limits are checked in this order and the first one broken
 * is reported: audio length, monthly seconds, spend cap, then concurrency last, so a caller
 * that queues instead of refusing on `maxConcurrentRenders` knows every other limit passed.
 * Throws `BillingError` (INVALID_QUANTITY) for negative or non-finite inputs.
 */
export function checkRenderAllowed(input: RenderAllowanceInput): RenderAllowance {
  const { plan, audioSeconds, runningRenders, videoSecondsUsedThisMonth } = input;
  assertQuantity(audioSeconds, 'audioSeconds');
  assertCount(runningRenders, 'runningRenders');
  assertCount(videoSecondsUsedThisMonth, 'videoSecondsUsedThisMonth');
  const cap = input.spendCapCents ?? null;
  if (cap !== null) {
    assertCount(cap, 'spendCapCents');
    if (input.spentThisMonthCents === undefined) {
      throw new BillingError(
        BillingErrorCode.INVALID_QUANTITY,
        'spentThisMonthCents is required when spendCapCents is set',
        'spentThisMonthCents',
      );
    }
    assertCount(input.spentThisMonthCents, 'spentThisMonthCents');
  }

  const billedSeconds = billableVideoSeconds(audioSeconds);
  const priceCents = priceRender({ plan, videoSeconds: audioSeconds });

  if (audioSeconds > plan.maxAudioSeconds) {
    return {
      allowed: false,
      code: ErrorCode.QUOTA_EXCEEDED,
      limit: 'maxAudioSeconds',
      field: 'audioAssetId',
      reason: `the audio is ${formatSeconds(audioSeconds)} long; the ${plan.name} plan allows at most ${plan.maxAudioSeconds} s per render`,
    };
  }
  if (videoSecondsUsedThisMonth + billedSeconds > plan.monthlyVideoSeconds) {
    const left = Math.max(0, plan.monthlyVideoSeconds - videoSecondsUsedThisMonth);
    return {
      allowed: false,
      code: ErrorCode.QUOTA_EXCEEDED,
      limit: 'monthlyVideoSeconds',
      reason: `this render needs ${billedSeconds} s of video but ${left} s of the ${plan.name} plan's ${plan.monthlyVideoSeconds} s this month are left`,
    };
  }
  // A render that costs nothing spends nothing, even when past the cap.
  if (cap !== null && priceCents > 0 && (input.spentThisMonthCents ?? 0) + priceCents > cap) {
    return {
      allowed: false,
      code: ErrorCode.SPEND_CAP_EXCEEDED,
      limit: 'spendCap',
      reason: `this render costs ${priceCents} cents and would take this month's spend past the cap of ${cap} cents`,
    };
  }
  if (runningRenders >= plan.maxConcurrentRenders) {
    return {
      allowed: false,
      code: ErrorCode.QUOTA_EXCEEDED,
      limit: 'maxConcurrentRenders',
      reason: `${runningRenders} renders are running; the ${plan.name} plan runs at most ${plan.maxConcurrentRenders} at a time`,
    };
  }
  return { allowed: true, billedSeconds, priceCents };
}

function formatSeconds(seconds: number): string {
  return `${Number(seconds.toFixed(3))} s`;
}

function assertQuantity(value: number, field: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new BillingError(
      BillingErrorCode.INVALID_QUANTITY,
      `${field} must be a finite, non-negative number, got ${String(value)}`,
      field,
    );
  }
}

function assertCount(value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new BillingError(
      BillingErrorCode.INVALID_QUANTITY,
      `${field} must be a non-negative integer, got ${String(value)}`,
      field,
    );
  }
}
