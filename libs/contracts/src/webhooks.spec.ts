import { createHmac } from 'node:crypto';
import {
  computeWebhookSignature,
  isWebhookEventType,
  verifyWebhookSignature,
  webhookEventTypes,
  webhookSignatureHeader,
} from './index';

const secret = 'whsec_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG';
const body = JSON.stringify({
  id: '6f1c1a2e-8e0b-4a53-9d2e-0d4f4b7c2a11',
  type: 'render.succeeded',
  createdAt: '2026-11-25T10:00:00.000Z',
  data: { renderId: 'r1', note: 'grüße' },
});
const t = 1_795_000_000;
const at = (seconds: number): number => seconds * 1000;

describe('webhook signatures', () => {
  it('signs HMAC-SHA256 of "<t>.<body>" as hex, as documented (checked against node:crypto directly)', () => {
    const expected = createHmac('sha256', secret).update(`${t}.${body}`, 'utf8').digest('hex');
    expect(computeWebhookSignature(secret, t, body)).toBe(expected);
    expect(computeWebhookSignature(secret, t, Buffer.from(body, 'utf8'))).toBe(expected);
    expect(webhookSignatureHeader([secret], t, body)).toBe(`t=${t},v1=${expected}`);
  });

  it('accepts a genuine signature within the tolerance, in either direction', () => {
    const header = webhookSignatureHeader([secret], t, body);
    expect(verifyWebhookSignature(secret, header, body, 300, at(t))).toEqual({
      valid: true,
      timestamp: t,
    });
    expect(verifyWebhookSignature(secret, header, body, 300, at(t + 299)).valid).toBe(true);
    expect(verifyWebhookSignature(secret, header, body, 300, at(t - 299)).valid).toBe(true);
    expect(verifyWebhookSignature(secret, header, Buffer.from(body), 300, at(t)).valid).toBe(true);
  });

  it('refuses a tampered body', () => {
    const header = webhookSignatureHeader([secret], t, body);
    const tampered = body.replace('"r1"', '"r2"');
    expect(verifyWebhookSignature(secret, header, tampered, 300, at(t))).toEqual({
      valid: false,
      reason: 'SIGNATURE_MISMATCH',
      timestamp: t,
    });
    // Re-serialised JSON (whitespace) is not the body that was signed either.
    const reserialised = JSON.stringify(JSON.parse(body), null, 1);
    expect(verifyWebhookSignature(secret, header, reserialised, 300, at(t)).valid).toBe(false);
  });

  it('refuses an old (or future) timestamp even with a genuine signature', () => {
    const header = webhookSignatureHeader([secret], t, body);
    expect(verifyWebhookSignature(secret, header, body, 300, at(t + 301))).toEqual({
      valid: false,
      reason: 'TIMESTAMP_OUTSIDE_TOLERANCE',
      timestamp: t,
    });
    expect(verifyWebhookSignature(secret, header, body, 300, at(t - 301)).valid).toBe(false);
    // A replayed body with a fresh timestamp but the old signature does not verify.
    const old = webhookSignatureHeader([secret], t - 3600, body);
    const replay = old.replace(`t=${t - 3600}`, `t=${t}`);
    expect(verifyWebhookSignature(secret, replay, body, 300, at(t)).valid).toBe(false);
  });

  it('refuses a wrong secret and accepts any one of several v1 entries (rotation)', () => {
    const other = 'whsec_another_secret_another_secret_another_';
    const both = webhookSignatureHeader([other, secret], t, body);
    expect(both.split(',v1=')).toHaveLength(3);
    expect(verifyWebhookSignature(secret, both, body, 300, at(t)).valid).toBe(true);
    expect(verifyWebhookSignature(other, both, body, 300, at(t)).valid).toBe(true);
    const onlyOther = webhookSignatureHeader([other], t, body);
    expect(verifyWebhookSignature(secret, onlyOther, body, 300, at(t))).toMatchObject({
      valid: false,
      reason: 'SIGNATURE_MISMATCH',
    });
  });

  it.each([
    ['absent', undefined],
    ['empty', ''],
    ['no timestamp', `v1=${'a'.repeat(64)}`],
    ['no signature', `t=${t}`],
    ['signature not hex', `t=${t},v1=${'z'.repeat(64)}`],
    ['signature too short', `t=${t},v1=abcd`],
    ['timestamp not a number', `t=yesterday,v1=${'a'.repeat(64)}`],
  ])('calls a header %s malformed', (_, header) => {
    expect(verifyWebhookSignature(secret, header, body, 300, at(t))).toEqual({
      valid: false,
      reason: 'MALFORMED_HEADER',
    });
  });

  it('ignores unknown schemes and spaces around entries', () => {
    const sig = computeWebhookSignature(secret, t, body);
    const header = `t=${t}, v0=${'b'.repeat(64)}, v2=whatever, v1=${sig}`;
    expect(verifyWebhookSignature(secret, header, body, 300, at(t)).valid).toBe(true);
  });

  it('knows the event types partners subscribe to', () => {
    expect(webhookEventTypes).toEqual(
      expect.arrayContaining(['render.succeeded', 'avatar.ready', 'test.ping']),
    );
    expect(isWebhookEventType('webhook.endpoint.disabled')).toBe(true);
    expect(isWebhookEventType('render.exploded')).toBe(false);
  });
});
