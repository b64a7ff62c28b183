import {
  InvalidKeyError,
  MAX_KEY_LENGTH,
  StorageError,
  StorageErrorCode,
  assertValidKey,
  assertValidMaxBytes,
  isValidKey,
} from './index';

const seg = (n: number): string => 'x'.repeat(n);

describe('storage keys', () => {
  it.each([
    'a',
    'a.jpg',
    'tenants/7d7c2a4e-9f57-4d5e-8d0c-1b6d3c2f9a10/assets/portrait.jpg',
    'A-b_c.D/e',
    '...',
    '.hidden',
    'file..jpg',
    seg(200),
    // five segments of 200 plus four slashes: 1004 characters
    [seg(200), seg(200), seg(200), seg(200), seg(200)].join('/'),
    [seg(200), seg(200), seg(200), seg(200), seg(200), seg(19)].join('/'), // exactly 1024
  ])('accepts %j', (key) => {
    expect(assertValidKey(key)).toBe(key);
    expect(isValidKey(key)).toBe(true);
  });

  it.each<[string, unknown, RegExp]>([
    ['empty', '', /empty/],
    ['absolute', '/etc/passwd', /relative/],
    ['trailing slash', 'a/', /empty segment/],
    ['double slash', 'a//b', /empty segment/],
    ['parent segment', '..', /"\.\."/],
    ['parent in the middle', 'a/../b', /"\.\."/],
    ['parent at the start', '../x', /"\.\."/],
    ['current segment', 'a/./b', /"\."/],
    ['space', 'a b', /may only contain/],
    ['backslash', 'a\\b', /may only contain/],
    ['backslash traversal', '..\\x', /may only contain/],
    ['non-ascii', 'portr\u00e4t.jpg', /may only contain/],
    ['tilde (reserved for temporary files)', 'a~b', /may only contain/],
    ['NUL', 'a\0b', /may only contain/],
    ['newline', 'a\nb', /may only contain/],
    ['colon', 'c:x', /may only contain/],
    ['segment of 201', seg(201), /segment longer than 200/],
    ['key of 1025', [seg(200), seg(200), seg(200), seg(200), seg(200), seg(20)].join('/'), /1024/],
    ['not a string', 42, /must be a string/],
    ['undefined', undefined, /must be a string/],
  ])('rejects %s', (_label, key, message) => {
    expect(isValidKey(key)).toBe(false);
    let caught: unknown;
    try {
      assertValidKey(key);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidKeyError);
    expect(caught).toBeInstanceOf(StorageError);
    const error = caught as InvalidKeyError;
    expect(error.code).toBe(StorageErrorCode.INVALID_KEY);
    expect(error.field).toBe('key');
    expect(error.message).toMatch(message);
  });

  it('uses S3 key length as the limit', () => {
    expect(MAX_KEY_LENGTH).toBe(1024);
  });
});

describe('maxBytes', () => {
  it.each([undefined, 0, 1, 50 * 1024 * 1024])('accepts %p', (maxBytes) => {
    expect(() => assertValidMaxBytes(maxBytes)).not.toThrow();
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53])('rejects %p', (maxBytes) => {
    let caught: unknown;
    try {
      assertValidMaxBytes(maxBytes);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(StorageError);
    expect(caught).toMatchObject({ code: StorageErrorCode.INVALID_ARGUMENT, field: 'maxBytes' });
  });
});
