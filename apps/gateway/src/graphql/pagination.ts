import { BadUserInputException } from '../errors/likeness.exception';

/** Page sizes of the keyset-paginated listings (`first`). */
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The keyset of listings ordered by creation time, then id. */
export interface KeysetCursor {
  createdAt: Date;
  id: string;
}

export function validatePageSize(first: number | null | undefined): number {
  const size = first ?? DEFAULT_PAGE_SIZE;
  if (size < 1 || size > MAX_PAGE_SIZE) {
    throw new BadUserInputException('first', `first must be between 1 and ${MAX_PAGE_SIZE}`);
  }
  return size;
}

/** Opaque cursor: base64url of `<createdAt ISO>|<id>`, the keyset of the listing order. */
export function encodeCursor(cursor: KeysetCursor): string {
  return Buffer.from(`${cursor.createdAt.toISOString()}|${cursor.id}`, 'utf8').toString(
    'base64url',
  );
}

export function decodeCursor(value: string): KeysetCursor {
  const invalid = (): BadUserInputException =>
    new BadUserInputException('after', 'after is not a cursor from this listing');
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(value)) throw invalid();
  const [iso, id, extra] = Buffer.from(value, 'base64url').toString('utf8').split('|');
  if (iso === undefined || id === undefined || extra !== undefined || !UUID_RE.test(id)) {
    throw invalid();
  }
  const createdAt = new Date(iso);
  if (Number.isNaN(createdAt.getTime()) || createdAt.toISOString() !== iso) throw invalid();
  return { createdAt, id };
}
