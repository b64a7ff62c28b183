/**
 * Secret scrubbing for log records: whatever the code logs, no credential reaches the output.
 * Keys that name a secret (authorization, cookie, secret, password, token, api key) have their
 * values replaced at any depth of plain objects and arrays, and API key secrets
 * (`lk_live_XXXXXXXX_<32>`) are cut down to their public prefix inside any string.
 */
export const REDACTED = '[redacted]';

const SECRET_KEY = /authorization|cookie|secret|passw|token|^api[-_]?key$|^x-api-key$/i;
const API_KEY_SECRET = /\b(lk_(?:live|test)_[0-9A-Za-z]{8})_[0-9A-Za-z]+/g;
const MAX_DEPTH = 8;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

export function scrubString(value: string): string {
  return value.includes('lk_') ? value.replace(API_KEY_SECRET, `$1_${REDACTED}`) : value;
}

/**
 * `value` with secrets removed: the same object when there were none (the common case, so an
 * ordinary log line costs no copies), else a copy. Only plain objects, arrays and errors are
 * walked: class instances (requests, replies, sockets) are left to their serializers.
 */
export function scrub(value: unknown, depth = 0, seen?: WeakSet<object>): unknown {
  if (typeof value === 'string') return scrubString(value);
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return value;
  const visited = seen ?? new WeakSet<object>();
  if (visited.has(value)) return value;
  if (Array.isArray(value)) {
    visited.add(value);
    let copy: unknown[] | undefined;
    value.forEach((item: unknown, i) => {
      const clean = scrub(item, depth + 1, visited);
      if (clean !== item) (copy ??= [...value])[i] = clean;
    });
    return copy ?? value;
  }
  if (value instanceof Error) {
    visited.add(value);
    const out: Record<string, unknown> = {
      type: value.name,
      message: scrubString(value.message),
      ...(value.stack ? { stack: scrubString(value.stack) } : {}),
    };
    for (const [key, item] of Object.entries(value)) {
      out[key] = isSecretKey(key) ? REDACTED : scrub(item, depth + 1, visited);
    }
    if (value.cause !== undefined) out['cause'] = scrub(value.cause, depth + 1, visited);
    return out;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  visited.add(value);
  const record = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(record)) {
    const item = record[key];
    const clean =
      isSecretKey(key) && item !== undefined ? REDACTED : scrub(item, depth + 1, visited);
    if (clean !== item) (copy ??= { ...record })[key] = clean;
  }
  return copy ?? value;
}
