import { ErrorCode } from '@likeness/contracts';
import { LikenessException } from '../errors/likeness.exception';
import { ApiKeyEnvironment, type CreateApiKeyInput } from './api-key.model';
import {
  DEFAULT_GRACE_PERIOD_SECONDS,
  MAX_GRACE_PERIOD_SECONDS,
  decodeCursor,
  encodeCursor,
  normalizeScopes,
  scopesNotHeld,
  validateCreateApiKey,
  validateGracePeriod,
  validateKeyId,
  validatePageSize,
} from './api-key.validation';

const now = new Date('2030-01-01T00:00:00.000Z');

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof LikenessException)) throw e;
    expect(e.code).toBe(ErrorCode.BAD_USER_INPUT);
    return e.extra.field;
  }
  return undefined;
}

describe('validateCreateApiKey', () => {
  const base: CreateApiKeyInput = { name: 'k', scopes: ['avatars:read'] };

  it('trims the name, orders and deduplicates scopes, defaults to LIVE', () => {
    expect(
      validateCreateApiKey(
        { ...base, name: ' ci ', scopes: ['renders:write', 'avatars:read', 'renders:write'] },
        now,
      ),
    ).toEqual({
      name: 'ci',
      scopes: ['avatars:read', 'renders:write'],
      expiresAt: null,
      environment: 'live',
      spendCapCents: null,
    });
    expect(
      validateCreateApiKey({ ...base, environment: ApiKeyEnvironment.TEST, spendCapCents: 0 }, now),
    ).toMatchObject({ environment: 'test', spendCapCents: 0 });
  });

  it.each<[string, Partial<CreateApiKeyInput>, string]>([
    ['empty name', { name: '' }, 'name'],
    ['blank name', { name: ' \t ' }, 'name'],
    ['101 characters', { name: 'x'.repeat(101) }, 'name'],
    ['control character', { name: 'a\u0007b' }, 'name'],
    ['no scopes', { scopes: [] }, 'scopes'],
    ['unknown scope', { scopes: ['avatars:read', 'avatars:delete'] }, 'scopes'],
    ['scope with spaces', { scopes: [' avatars:read'] }, 'scopes'],
    ['expiry now', { expiresAt: now }, 'expiresAt'],
    ['expiry in the past', { expiresAt: new Date(now.getTime() - 1) }, 'expiresAt'],
    ['negative cap', { spendCapCents: -1 }, 'spendCapCents'],
  ])('rejects %s on field %s', (_, patch, field) => {
    expect(fieldOf(() => validateCreateApiKey({ ...base, ...patch }, now))).toBe(field);
  });

  it('accepts 100 characters and an expiry a millisecond ahead', () => {
    expect(
      validateCreateApiKey(
        { ...base, name: 'x'.repeat(100), expiresAt: new Date(now.getTime() + 1) },
        now,
      ).name,
    ).toHaveLength(100);
  });
});

describe('scopes', () => {
  it('collapses anything with * to ["*"]', () => {
    expect(normalizeScopes(['keys:read', '*'])).toEqual(['*']);
  });

  it.each<[string[], string[], string[]]>([
    [['*'], ['*'], []],
    [['*'], ['keys:write'], []],
    [['keys:write', 'avatars:read'], ['avatars:read'], []],
    [['keys:write'], ['avatars:read', 'keys:write'], ['avatars:read']],
    [['keys:write', 'avatars:read'], ['*'], ['*']],
  ])('holder %j granting %j lacks %j', (held, wanted, missing) => {
    expect(scopesNotHeld(held, wanted)).toEqual(missing);
  });
});

describe('ids, grace periods, pages', () => {
  it('checks ids', () => {
    const id = '0f8fad5b-d9cb-469f-a165-70867728950e';
    expect(validateKeyId(id.toUpperCase())).toBe(id);
    expect(fieldOf(() => validateKeyId('nope'))).toBe('id');
  });

  it.each<[number | null, number | string]>([
    [null, DEFAULT_GRACE_PERIOD_SECONDS],
    [0, 0],
    [MAX_GRACE_PERIOD_SECONDS, MAX_GRACE_PERIOD_SECONDS],
    [MAX_GRACE_PERIOD_SECONDS + 1, 'gracePeriodSeconds'],
    [-1, 'gracePeriodSeconds'],
  ])('grace %j → %j', (given, expected) => {
    if (typeof expected === 'number') expect(validateGracePeriod(given)).toBe(expected);
    else expect(fieldOf(() => validateGracePeriod(given))).toBe(expected);
  });

  it.each<[number | null, number | string]>([
    [null, 20],
    [1, 1],
    [100, 100],
    [0, 'first'],
    [101, 'first'],
  ])('page size %j → %j', (given, expected) => {
    if (typeof expected === 'number') expect(validatePageSize(given)).toBe(expected);
    else expect(fieldOf(() => validatePageSize(given))).toBe(expected);
  });

  it('round-trips cursors and refuses forged ones', () => {
    const cursor = {
      createdAt: new Date('2029-05-06T07:08:09.123Z'),
      id: '0f8fad5b-d9cb-469f-a165-70867728950e',
    };
    expect(decodeCursor(encodeCursor(cursor))).toEqual(cursor);
    const forge = (text: string): string => Buffer.from(text).toString('base64url');
    for (const bad of [
      '',
      '***',
      forge('2029-05-06T07:08:09.123Z'),
      forge('yesterday|0f8fad5b-d9cb-469f-a165-70867728950e'),
      forge('2029-05-06T07:08:09.123Z|not-a-uuid'),
      forge('2029-05-06T07:08:09.123Z|0f8fad5b-d9cb-469f-a165-70867728950e|x'),
    ]) {
      expect(fieldOf(() => decodeCursor(bad))).toBe('after');
    }
  });
});
