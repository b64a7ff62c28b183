import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Events a webhook endpoint can subscribe to. Adding one is fine; renaming one breaks partners.
 * `test.ping` is what `sendTestWebhook` sends (to one endpoint, subscribed or not).
 */
export const WebhookEventType = {
  RenderSucceeded: 'render.succeeded',
  RenderFailed: 'render.failed',
  RenderCanceled: 'render.canceled',
  /** A render changed status (queued → running → encoding); not every progress tick. */
  RenderUpdated: 'render.updated',
  AvatarReady: 'avatar.ready',
  AvatarFailed: 'avatar.failed',
  /** An endpoint of the tenant was disabled after failing for too long. */
  WebhookEndpointDisabled: 'webhook.endpoint.disabled',
  TestPing: 'test.ping',
} as const;
export type WebhookEventType = (typeof WebhookEventType)[keyof typeof WebhookEventType];

export const webhookEventTypes: readonly WebhookEventType[] = Object.values(WebhookEventType);

export function isWebhookEventType(value: string): value is WebhookEventType {
  return (webhookEventTypes as readonly string[]).includes(value);
}

/** Request headers of every webhook POST. */
export const WebhookHeader = {
  /** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, one v1 per active secret. */
  Signature: 'Likeness-Signature',
  /** The event type, e.g. `render.succeeded`. */
  Event: 'Likeness-Event',
  /** The delivery id (a redelivery has a new one; the body's `id` is the event's). */
  Delivery: 'Likeness-Delivery',
  /** 1 for the first attempt of a delivery. */
  Attempt: 'Likeness-Attempt',
} as const;

/** The JSON body of every webhook POST. */
export interface WebhookEvent<T = unknown> {
  /** The event id: the same across endpoints, retries and redeliveries (deduplicate by it). */
  id: string;
  type: string;
  /** ISO 8601. */
  createdAt: string;
  data: T;
}

/** Five minutes: how far a signature's timestamp may be from the receiver's clock by default. */
export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;

/** Hex HMAC-SHA256 of `<timestamp>.<body>` with the secret (its UTF-8 bytes) as the key. */
export function computeWebhookSignature(
  secret: string,
  timestamp: number,
  body: string | Uint8Array,
): string {
  return createHmac('sha256', secret)
    .update(`${timestamp}.`)
    .update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body)
    .digest('hex');
}

/**
 * The `Likeness-Signature` value: `t=<timestamp>,v1=<sig>` with one `v1` per secret (during a
 * secret rotation the new and the old secret both sign, so either verifies).
 */
export function webhookSignatureHeader(
  secrets: readonly string[],
  timestamp: number,
  body: string | Uint8Array,
): string {
  if (secrets.length === 0) throw new Error('at least one secret is needed to sign');
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new Error('timestamp must be unix seconds');
  }
  return [
    `t=${timestamp}`,
    ...secrets.map((s) => `v1=${computeWebhookSignature(s, timestamp, body)}`),
  ].join(',');
}

export type WebhookVerification =
  | { valid: true; timestamp: number }
  | {
      valid: false;
      reason: 'MALFORMED_HEADER' | 'SIGNATURE_MISMATCH' | 'TIMESTAMP_OUTSIDE_TOLERANCE';
      /** The header's timestamp when it had one. */
      timestamp?: number;
    };

const HEX_SHA256 = /^[0-9a-f]{64}$/;

/**
 * Checks a webhook the way a partner's receiver should: `body` must be the raw request body
 * (bytes or the exact text; re-serialised JSON will not match), `header` the
 * `Likeness-Signature` value. Valid when any `v1` matches (constant-time comparison) and the
 * timestamp is within `toleranceSeconds` of `now` (either direction), which bounds replays.
 * Unknown schemes (a future `v2`) are ignored.
 */
export function verifyWebhookSignature(
  secret: string,
  header: string | null | undefined,
  body: string | Uint8Array,
  toleranceSeconds: number = DEFAULT_WEBHOOK_TOLERANCE_SECONDS,
  now: Date | number = Date.now(),
): WebhookVerification {
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of (header ?? '').split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value) && timestamp === undefined) {
      timestamp = Number(value);
    } else if (key === 'v1' && HEX_SHA256.test(value)) {
      signatures.push(value);
    }
  }
  if (timestamp === undefined || signatures.length === 0) {
    return { valid: false, reason: 'MALFORMED_HEADER' };
  }
  const expected = Buffer.from(computeWebhookSignature(secret, timestamp, body), 'hex');
  const matches = signatures.some((s) => timingSafeEqual(Buffer.from(s, 'hex'), expected));
  if (!matches) return { valid: false, reason: 'SIGNATURE_MISMATCH', timestamp };
  const nowSeconds = (typeof now === 'number' ? now : now.getTime()) / 1000;
  if (Math.abs(nowSeconds - timestamp) > toleranceSeconds) {
    return { valid: false, reason: 'TIMESTAMP_OUTSIDE_TOLERANCE', timestamp };
  }
  return { valid: true, timestamp };
}
