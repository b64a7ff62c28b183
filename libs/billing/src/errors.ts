/** Why a billing call failed on purpose; callers map these to the public codes of contracts. */
export const BillingErrorCode = {
  /** A plan id that is not in the catalogue (a data error: tenants only get known plans). */
  UNKNOWN_PLAN: 'UNKNOWN_PLAN',
  /** A quantity that cannot be priced or counted (negative, not finite, not an integer). */
  INVALID_QUANTITY: 'INVALID_QUANTITY',
} as const;
export type BillingErrorCode = (typeof BillingErrorCode)[keyof typeof BillingErrorCode];

export class BillingError extends Error {
  constructor(
    readonly code: BillingErrorCode,
    message: string,
    /** The argument at fault. */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'BillingError';
  }
}

export class UnknownPlanError extends BillingError {
  constructor(readonly planId: string) {
    super(BillingErrorCode.UNKNOWN_PLAN, `unknown plan: ${JSON.stringify(planId)}`, 'plan');
    this.name = 'UnknownPlanError';
  }
}
