import { LikenessException } from '../errors/likeness.exception';
import { addressAllowed, isPublicAddress } from './address-policy';
import {
  decodeCursor,
  encodeCursor,
  validateDescription,
  validateEventTypes,
  validateGracePeriod,
  validateWebhookUrl,
} from './webhook.validation';

const production = { allowHttpLoopback: false, blockPrivateAddresses: true };
const development = { allowHttpLoopback: true, blockPrivateAddresses: false };
const testing = { allowHttpLoopback: true, blockPrivateAddresses: true };

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof LikenessException && error.code === 'BAD_USER_INPUT') {
      return error.extra.field;
    }
    throw error;
  }
  return undefined;
}

describe('webhook URL policy', () => {
  it.each([
    ['https://hooks.example.com/likeness', 'https://hooks.example.com/likeness'],
    ['  https://Hooks.Example.com:8443/a?b=c#frag ', 'https://hooks.example.com:8443/a?b=c'],
    ['https://203.0.114.7/hook', 'https://203.0.114.7/hook'],
    ['https://[2606:4700::1111]/hook', 'https://[2606:4700::1111]/hook'],
  ])('accepts %s in production as %s', (input, stored) => {
    expect(validateWebhookUrl(input, production)).toBe(stored);
  });

  it.each([
    ['', 'empty'],
    ['not a url', 'not absolute'],
    ['/relative/path', 'not absolute'],
    ['ftp://example.com/hook', 'ftp'],
    ['file:///etc/passwd', 'file'],
    ['http://example.com/hook', 'plain http'],
    ['http://localhost:4000/hook', 'http to loopback without the flag'],
    ['https://user:pw@example.com/hook', 'credentials'],
    ['https://10.0.0.5/hook', 'RFC 1918'],
    ['https://192.168.1.1/hook', 'RFC 1918'],
    ['https://172.20.0.1/hook', 'RFC 1918'],
    ['https://169.254.169.254/latest/meta-data', 'link-local (cloud metadata)'],
    ['https://127.0.0.1/hook', 'loopback'],
    ['https://2130706433/hook', 'loopback written as a number'],
    ['https://0.0.0.0/hook', 'this network'],
    ['https://100.64.1.1/hook', 'carrier-grade NAT'],
    ['https://[::1]/hook', 'IPv6 loopback'],
    ['https://[fd00::1]/hook', 'IPv6 unique local'],
    ['https://[fe80::1]/hook', 'IPv6 link-local'],
    ['https://[::ffff:10.0.0.1]/hook', 'IPv4-mapped private'],
    ['https://localhost/hook', 'localhost'],
    ['https://db.internal/hook', 'internal name'],
    ['https://intranet/hook', 'single-label name'],
    [`https://example.com/${'a'.repeat(2100)}`, 'too long'],
  ])('refuses %s in production (%s), naming the field', (input) => {
    expect(fieldOf(() => validateWebhookUrl(input, production, 'url'))).toBe('url');
  });

  it('allows http:// only to loopback hosts, and only with the flag', () => {
    for (const url of ['http://localhost:4000/h', 'http://127.0.0.1:9/h', 'http://[::1]:9/h']) {
      expect(validateWebhookUrl(url, development)).toBe(url);
      expect(validateWebhookUrl(url, testing)).toBe(url);
      expect(fieldOf(() => validateWebhookUrl(url, production))).toBe('url');
    }
    expect(fieldOf(() => validateWebhookUrl('http://10.0.0.1/h', development))).toBe('url');
    expect(fieldOf(() => validateWebhookUrl('http://example.com/h', development))).toBe('url');
  });

  it('lets private addresses through only where they are not blocked', () => {
    expect(validateWebhookUrl('https://10.0.0.5/hook', development)).toBe('https://10.0.0.5/hook');
    expect(fieldOf(() => validateWebhookUrl('https://10.0.0.5/hook', testing))).toBe('url');
  });

  it('classifies addresses for the connect-time check', () => {
    expect(isPublicAddress('93.184.216.34')).toBe(true);
    expect(isPublicAddress('2606:4700::1111')).toBe(true);
    expect(isPublicAddress('::ffff:5db8:d822')).toBe(true); // IPv4-mapped 93.184.216.34
    for (const a of ['10.1.2.3', '127.0.0.1', '169.254.1.1', '::1', 'fd12::1', '::ffff:a00:1']) {
      expect({ a, public: isPublicAddress(a) }).toEqual({ a, public: false });
    }
    expect(addressAllowed(testing, 'localhost', '127.0.0.1')).toBe(true);
    expect(addressAllowed(testing, 'evil.example', '127.0.0.1')).toBe(false);
    expect(addressAllowed(production, 'localhost', '127.0.0.1')).toBe(false);
    expect(addressAllowed(development, 'evil.example', '10.0.0.1')).toBe(true);
  });
});

describe('event types, description, grace period, cursors', () => {
  it('keeps known event types, deduplicated, in the documented order', () => {
    expect(validateEventTypes(['test.ping', 'render.succeeded', 'render.succeeded'])).toEqual([
      'render.succeeded',
      'test.ping',
    ]);
  });

  it.each([
    [[], 'empty'],
    [['render.succeeded', 'render.exploded'], 'unknown'],
    [['Render.Succeeded'], 'wrong case'],
    [['*'], 'wildcard'],
  ])('refuses %j (%s) naming eventTypes', (types) => {
    expect(fieldOf(() => validateEventTypes(types as string[]))).toBe('eventTypes');
  });

  it('trims descriptions, treats empty as none and refuses long or control characters', () => {
    expect(validateDescription('  orders  ')).toBe('orders');
    expect(validateDescription('   ')).toBeNull();
    expect(validateDescription(null)).toBeNull();
    expect(fieldOf(() => validateDescription('x'.repeat(501)))).toBe('description');
    expect(fieldOf(() => validateDescription('a\u0000b'))).toBe('description');
  });

  it('bounds the rotation grace period', () => {
    expect(validateGracePeriod(undefined)).toBe(86_400);
    expect(validateGracePeriod(0)).toBe(0);
    expect(fieldOf(() => validateGracePeriod(-1))).toBe('gracePeriodSeconds');
    expect(fieldOf(() => validateGracePeriod(8 * 86_400))).toBe('gracePeriodSeconds');
  });

  it('round-trips cursors and refuses forged ones', () => {
    const cursor = { createdAt: new Date('2026-11-25T10:00:00.123Z'), id: crypto.randomUUID() };
    expect(decodeCursor(encodeCursor(cursor))).toEqual(cursor);
    expect(fieldOf(() => decodeCursor('not-a-cursor'))).toBe('after');
    expect(fieldOf(() => decodeCursor(Buffer.from('x|y').toString('base64url')))).toBe('after');
  });
});
