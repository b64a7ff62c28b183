import { isIP } from 'node:net';
import { isWebhookEventType, webhookEventTypes, type WebhookEventType } from '@likeness/contracts';
import { BadUserInputException } from '../errors/likeness.exception';
import { UUID_RE } from '../graphql/pagination';
// Listings of this module page like every keyset listing of the gateway.
export {
  DEFAULT_PAGE_SIZE,
  MAX_PAGE_SIZE,
  decodeCursor,
  encodeCursor,
  validatePageSize,
} from '../graphql/pagination';
import { bareHost, isLoopbackHost, isPublicAddress, type AddressPolicy } from './address-policy';

export const URL_MAX_LENGTH = 2048;
export const DESCRIPTION_MAX_LENGTH = 500;
export const MAX_ENDPOINTS_PER_TENANT = 20;
export const DEFAULT_SECRET_GRACE_SECONDS = 24 * 60 * 60;
export const MAX_SECRET_GRACE_SECONDS = 7 * 24 * 60 * 60;

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/**
 * A webhook URL as stored: absolute https (http only for a loopback host when the policy
 * allows it), no credentials, no fragment, and — when private addresses are blocked — not an
 * IP literal or name that is plainly not public (names are checked again after DNS, at send).
 */
export function validateWebhookUrl(raw: string, policy: AddressPolicy, field = 'url'): string {
  const text = raw.trim();
  if (text.length === 0) throw new BadUserInputException(field, `${field} must not be empty`);
  if (text.length > URL_MAX_LENGTH) {
    throw new BadUserInputException(field, `${field} must be at most ${URL_MAX_LENGTH} characters`);
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new BadUserInputException(field, `${field} is not an absolute URL`);
  }
  const loopback = isLoopbackHost(url.hostname);
  if (url.protocol === 'http:') {
    if (!(policy.allowHttpLoopback && loopback)) {
      throw new BadUserInputException(
        field,
        `${field} must use https:// (http:// is accepted only for localhost, and only where WEBHOOK_ALLOW_HTTP_LOOPBACK is on)`,
      );
    }
  } else if (url.protocol !== 'https:') {
    throw new BadUserInputException(field, `${field} must use https://, not ${url.protocol}//`);
  }
  if (url.username || url.password) {
    throw new BadUserInputException(field, `${field} must not contain credentials`);
  }
  const host = bareHost(url.hostname);
  if (host.length === 0) throw new BadUserInputException(field, `${field} has no host`);
  if (policy.blockPrivateAddresses && !(policy.allowHttpLoopback && loopback)) {
    const plainlyPrivate = isIP(host) !== 0 ? !isPublicAddress(host) : isLocalName(host);
    if (plainlyPrivate) {
      throw new BadUserInputException(
        field,
        `${field} points to a private, loopback or link-local address; webhooks go to public hosts only`,
      );
    }
  }
  url.hash = '';
  return url.href;
}

/** Names that never resolve to a public address. */
function isLocalName(host: string): boolean {
  return (
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    host.endsWith('.local') ||
    host.endsWith('.internal') ||
    !host.includes('.')
  );
}

/** Known event types, deduplicated, in the order of `webhookEventTypes`. */
export function validateEventTypes(
  types: readonly string[],
  field = 'eventTypes',
): WebhookEventType[] {
  if (types.length === 0) {
    throw new BadUserInputException(field, `${field} must list at least one event type`);
  }
  for (const type of types) {
    if (!isWebhookEventType(type)) {
      throw new BadUserInputException(
        field,
        `unknown event type "${type}"; known types: ${webhookEventTypes.join(', ')}`,
      );
    }
  }
  return webhookEventTypes.filter((t) => types.includes(t));
}

/** Trimmed; empty means none. */
export function validateDescription(
  value: string | null | undefined,
  field = 'description',
): string | null {
  if (value === null || value === undefined) return null;
  const text = value.trim();
  if (text.length === 0) return null;
  if (text.length > DESCRIPTION_MAX_LENGTH) {
    throw new BadUserInputException(
      field,
      `${field} must be at most ${DESCRIPTION_MAX_LENGTH} characters`,
    );
  }
  if (CONTROL_CHARS.test(text)) {
    throw new BadUserInputException(field, `${field} must not contain control characters`);
  }
  return text;
}

export function validateId(id: string, field: string): string {
  if (!UUID_RE.test(id)) throw new BadUserInputException(field, `${field} is not a valid id`);
  return id.toLowerCase();
}

export function validateGracePeriod(seconds: number | null | undefined): number {
  const grace = seconds ?? DEFAULT_SECRET_GRACE_SECONDS;
  if (grace < 0 || grace > MAX_SECRET_GRACE_SECONDS) {
    throw new BadUserInputException(
      'gracePeriodSeconds',
      `gracePeriodSeconds must be between 0 and ${MAX_SECRET_GRACE_SECONDS} (7 days)`,
    );
  }
  return grace;
}
