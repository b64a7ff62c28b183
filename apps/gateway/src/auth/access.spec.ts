import { ErrorCode } from '@likeness/contracts';
import { LikenessException } from '../errors/likeness.exception';
import type { AccessRule } from './access';
import { bearerToken, checkAccess } from './auth.guard';
import type { ApiKeyPrincipal, Principal, UserPrincipal } from './principal';

const tenant = { id: 't1', name: 'T', plan: 'free', status: 'ACTIVE' as const };
const key = (scopes: string[]): ApiKeyPrincipal => ({
  kind: 'API_KEY',
  apiKeyId: 'k',
  apiKeyName: 'k',
  apiKeyPrefix: 'lk_test_x',
  scopes,
  tenant,
});
const user = (role: UserPrincipal['role']): UserPrincipal => ({
  kind: 'USER',
  userId: 'u',
  sessionId: 's',
  email: 'u@x.test',
  role,
  tenant: role === 'PLATFORM_ADMIN' ? null : tenant,
});

function reason(principal: Principal, rule: AccessRule): string | null {
  try {
    checkAccess(principal, rule);
    return null;
  } catch (e) {
    if (!(e instanceof LikenessException)) throw e;
    expect(e.code).toBe(ErrorCode.FORBIDDEN);
    return e.extra.reason ?? 'no reason';
  }
}

describe('checkAccess', () => {
  const write: AccessRule = { roles: ['TENANT_ADMIN'], scopes: ['avatars:write'] };
  it.each<[string, Principal, AccessRule, string | null]>([
    ['key with the scope', key(['avatars:write']), write, null],
    ['key with *', key(['*']), write, null],
    ['key lacking the scope', key(['avatars:read']), write, 'MISSING_SCOPE'],
    [
      'key lacking one of two',
      key(['renders:write']),
      { scopes: ['renders:write', 'avatars:read'] },
      'MISSING_SCOPE',
    ],
    ['key on a users-only operation', key(['*']), { roles: ['PLATFORM_ADMIN'] }, 'USER_REQUIRED'],
    ['tenant admin', user('TENANT_ADMIN'), write, null],
    ['tenant viewer on a write', user('TENANT_VIEWER'), write, 'ROLE_NOT_ALLOWED'],
    ['platform admin on a tenant write', user('PLATFORM_ADMIN'), write, 'ROLE_NOT_ALLOWED'],
    ['platform admin on admin work', user('PLATFORM_ADMIN'), { roles: ['PLATFORM_ADMIN'] }, null],
  ])('%s', (_, principal, rule, expected) => {
    expect(reason(principal, rule)).toBe(expected);
  });
});

describe('bearerToken', () => {
  it.each<[string | string[] | undefined, string | null]>([
    ['Bearer abc', 'abc'],
    ['bearer   abc  ', 'abc'],
    [['Bearer first', 'Bearer second'], 'first'],
    ['Basic abc', null],
    ['Bearer', null],
    ['Bearer a b', null],
    [undefined, null],
  ])('%j → %j', (header, token) => {
    expect(bearerToken(header)).toBe(token);
  });
});
