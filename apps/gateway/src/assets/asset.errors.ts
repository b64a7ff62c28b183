import { ErrorCode } from '@likeness/contracts';
import {
  ConflictException,
  LikenessException,
  NotFoundException,
} from '../errors/likeness.exception';

/**
 * Why an upload was refused (`extensions.reason` / `error.reason`). The code is BAD_USER_INPUT
 * for files we cannot accept at all, QUOTA_EXCEEDED for files over a limit of the tenant's plan
 * (a larger plan would accept them).
 */
export type AssetRejection =
  | 'EMPTY_FILE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'UNREADABLE_MEDIA'
  | 'MISSING_FILE'
  | 'UPLOAD_INTERRUPTED'
  | 'FILE_TOO_LARGE'
  | 'IMAGE_TOO_LARGE'
  | 'AUDIO_TOO_LONG';

/** A REST-only HTTP status that differs from `httpStatusOf(code)` (413, 410). */
export interface HasHttpStatus {
  readonly httpStatus: number;
}

export function httpStatusOverride(error: unknown): number | undefined {
  const status = (error as Partial<HasHttpStatus> | null)?.httpStatus;
  return typeof status === 'number' ? status : undefined;
}

/** The upload cannot be accepted as sent; `field` is `file` (the body or the multipart part). */
export class BadAssetException extends LikenessException {
  constructor(message: string, reason: AssetRejection, field = 'file') {
    super(ErrorCode.BAD_USER_INPUT, message, { field, reason });
  }
}

/** Over a limit of the tenant's plan (image megapixels, audio seconds). */
export class AssetQuotaException extends LikenessException {
  constructor(message: string, reason: AssetRejection) {
    super(ErrorCode.QUOTA_EXCEEDED, message, { field: 'file', reason });
  }
}

/**
 * More bytes than the plan's `maxUploadBytes`, announced by Content-Length or found while
 * streaming: QUOTA_EXCEEDED with HTTP 413 (Content Too Large), so HTTP clients and proxies
 * recognise it.
 */
export class UploadTooLargeException extends AssetQuotaException implements HasHttpStatus {
  readonly httpStatus = 413;
  constructor(maxBytes: number) {
    super(
      `The file is larger than your plan allows for one upload (${maxBytes} bytes)`,
      'FILE_TOO_LARGE',
    );
  }
}

/** No such asset, or another tenant's (never FORBIDDEN for those). */
export class AssetNotFoundException extends NotFoundException {
  constructor(field?: string) {
    super('No such asset', field);
  }
}

/** deleteAsset while an avatar or render still uses the asset. */
export class AssetInUseException extends ConflictException {
  constructor() {
    super('The asset is still used by an avatar or a render', 'id');
  }
}

/** A download URL whose signature does not match (tampered, truncated, or for another asset). */
export class InvalidSignedUrlException extends LikenessException {
  constructor() {
    super(ErrorCode.FORBIDDEN, 'The download link is not valid', { reason: 'INVALID_SIGNATURE' });
  }
}

/** A genuine download URL past its expiry: HTTP 410 Gone; ask the API for a fresh one. */
export class ExpiredSignedUrlException extends LikenessException implements HasHttpStatus {
  readonly httpStatus = 410;
  constructor() {
    super(ErrorCode.FORBIDDEN, 'The download link has expired; request a new one', {
      reason: 'URL_EXPIRED',
    });
  }
}
