import { randomUUID } from 'node:crypto';
import { LikenessException } from '../errors/likeness.exception';
import { AVATARS_PAGE } from './avatar.model';
import {
  ATTESTATION_MAX_LENGTH,
  NAME_MAX_LENGTH,
  avatarCursor,
  avatarIdOfCursor,
  pageSize,
  validateCreateAvatar,
} from './avatar.validation';

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof LikenessException && error.code === 'BAD_USER_INPUT') {
      return error.extra.field;
    }
    throw error;
  }
  throw new Error('expected BAD_USER_INPUT');
}

const valid = () => ({
  name: '  Ada  ',
  imageAssetId: randomUUID().toUpperCase(),
  faceIndex: null,
  consent: { attestation: ' She agreed.\nSigned form #12. ' },
});

describe('validateCreateAvatar', () => {
  it('trims, keeps newlines in the attestation and lower-cases the id', () => {
    const input = valid();
    expect(validateCreateAvatar(input)).toEqual({
      name: 'Ada',
      imageAssetId: input.imageAssetId.toLowerCase(),
      faceIndex: null,
      attestation: 'She agreed.\nSigned form #12.',
    });
  });

  it.each([
    ['an empty name', { name: '   ' }, 'name'],
    ['a long name', { name: 'x'.repeat(NAME_MAX_LENGTH + 1) }, 'name'],
    ['a name with a control character', { name: 'A\u0007' }, 'name'],
    ['an id that is no uuid', { imageAssetId: 'asset-1' }, 'imageAssetId'],
    ['a negative faceIndex', { faceIndex: -1 }, 'faceIndex'],
    ['a huge faceIndex', { faceIndex: 5000 }, 'faceIndex'],
    ['a blank attestation', { consent: { attestation: ' \t\n' } }, 'consent.attestation'],
    [
      'a long attestation',
      { consent: { attestation: 'y'.repeat(ATTESTATION_MAX_LENGTH + 1) } },
      'consent.attestation',
    ],
    ['a control character', { consent: { attestation: 'yes\u0000' } }, 'consent.attestation'],
  ])('refuses %s, naming the field', (_label, change, field) => {
    expect(fieldOf(() => validateCreateAvatar({ ...valid(), ...change }))).toBe(field);
  });
});

describe('pages and cursors', () => {
  it('round-trips a cursor and refuses others', () => {
    const id = randomUUID();
    expect(avatarIdOfCursor(avatarCursor(id))).toBe(id);
    expect(fieldOf(() => avatarIdOfCursor(Buffer.from(`asset:${id}`).toString('base64url')))).toBe(
      'after',
    );
  });

  it('takes 1..max, default when absent', () => {
    expect(pageSize('first', null, AVATARS_PAGE)).toBe(AVATARS_PAGE.default);
    expect(pageSize('first', AVATARS_PAGE.max, AVATARS_PAGE)).toBe(AVATARS_PAGE.max);
    expect(fieldOf(() => pageSize('first', 0, AVATARS_PAGE))).toBe('first');
    expect(fieldOf(() => pageSize('first', AVATARS_PAGE.max + 1, AVATARS_PAGE))).toBe('first');
  });
});
