import { BadUserInputException } from '../errors/likeness.exception';
import type { CreateAvatarInput } from './avatar.model';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// C0/C1 control characters, except tab and newlines in the attestation.
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;
// eslint-disable-next-line no-control-regex
const CONTROL_EXCEPT_WHITESPACE_RE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

export const NAME_MAX_LENGTH = 100;
export const ATTESTATION_MAX_LENGTH = 2000;
/** More faces than any photo could hold: a larger index is a typo, said at once. */
export const FACE_INDEX_MAX = 999;

export interface ValidCreateAvatar {
  name: string;
  imageAssetId: string;
  faceIndex: number | null;
  attestation: string;
}

/** Checks createAvatar's input; BAD_USER_INPUT naming the field (`consent.attestation` …). */
export function validateCreateAvatar(input: CreateAvatarInput): ValidCreateAvatar {
  const name = input.name.trim();
  if (name.length === 0) throw new BadUserInputException('name', 'name must not be empty');
  if (name.length > NAME_MAX_LENGTH) {
    throw new BadUserInputException('name', `name must be at most ${NAME_MAX_LENGTH} characters`);
  }
  if (CONTROL_RE.test(name)) {
    throw new BadUserInputException('name', 'name must not contain control characters');
  }
  if (!UUID_RE.test(input.imageAssetId)) {
    throw new BadUserInputException('imageAssetId', 'imageAssetId is not an asset id');
  }
  const faceIndex = input.faceIndex ?? null;
  if (faceIndex !== null && (faceIndex < 0 || faceIndex > FACE_INDEX_MAX)) {
    throw new BadUserInputException('faceIndex', `faceIndex must be 0 to ${FACE_INDEX_MAX}`);
  }
  const attestation = input.consent.attestation.trim();
  if (attestation.length === 0) {
    throw new BadUserInputException(
      'consent.attestation',
      'consent.attestation must state that the person shown agreed',
    );
  }
  if (attestation.length > ATTESTATION_MAX_LENGTH) {
    throw new BadUserInputException(
      'consent.attestation',
      `consent.attestation must be at most ${ATTESTATION_MAX_LENGTH} characters`,
    );
  }
  if (CONTROL_EXCEPT_WHITESPACE_RE.test(attestation)) {
    throw new BadUserInputException(
      'consent.attestation',
      'consent.attestation must not contain control characters',
    );
  }
  return { name, imageAssetId: input.imageAssetId.toLowerCase(), faceIndex, attestation };
}

/** A page size argument within 1..max, or the default. */
export function pageSize(
  field: string,
  value: number | null | undefined,
  limits: { default: number; max: number },
): number {
  const size = value ?? limits.default;
  if (!Number.isInteger(size) || size < 1 || size > limits.max) {
    throw new BadUserInputException(field, `${field} must be 1 to ${limits.max}`);
  }
  return size;
}

const CURSOR_PREFIX = 'avatar:';

/** Opaque cursor of an avatar in the newest-first list. */
export function avatarCursor(id: string): string {
  return Buffer.from(`${CURSOR_PREFIX}${id}`, 'utf8').toString('base64url');
}

export function avatarIdOfCursor(cursor: string): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const id = text.startsWith(CURSOR_PREFIX) ? text.slice(CURSOR_PREFIX.length) : '';
  if (!UUID_RE.test(id)) throw new BadUserInputException('after', 'after: not a cursor of avatars');
  return id;
}
