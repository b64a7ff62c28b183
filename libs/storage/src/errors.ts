/** Why a storage call failed on purpose; callers map these to the public codes of contracts. */
export const StorageErrorCode = {
  /** The key breaks the key rules (see `assertValidKey`); `field` is `key`. */
  INVALID_KEY: 'INVALID_KEY',
  /** An option is out of range; `field` names it. */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  OBJECT_NOT_FOUND: 'OBJECT_NOT_FOUND',
  /** The source produced more than `maxBytes`; nothing was stored. */
  OBJECT_TOO_LARGE: 'OBJECT_TOO_LARGE',
  /**
   * A directory-backed store cannot hold both `a` and `a/b` (S3 can): the key is a prefix of
   * existing keys, or one of its prefixes is an object.
   */
  KEY_CONFLICT: 'KEY_CONFLICT',
} as const;
export type StorageErrorCode = (typeof StorageErrorCode)[keyof typeof StorageErrorCode];

export class StorageError extends Error {
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    /** The argument at fault, when there is one (`key`, `maxBytes`). */
    readonly field?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StorageError';
  }
}

export class InvalidKeyError extends StorageError {
  constructor(
    readonly key: string,
    reason: string,
  ) {
    super(StorageErrorCode.INVALID_KEY, `invalid storage key: ${reason}`, 'key');
    this.name = 'InvalidKeyError';
  }
}

export class ObjectNotFoundError extends StorageError {
  constructor(readonly key: string) {
    super(StorageErrorCode.OBJECT_NOT_FOUND, `object not found: ${key}`);
    this.name = 'ObjectNotFoundError';
  }
}

export class ObjectTooLargeError extends StorageError {
  constructor(
    readonly key: string,
    readonly maxBytes: number,
  ) {
    super(StorageErrorCode.OBJECT_TOO_LARGE, `object ${key} is larger than ${maxBytes} bytes`);
    this.name = 'ObjectTooLargeError';
  }
}

export class KeyConflictError extends StorageError {
  constructor(
    readonly key: string,
    cause: unknown,
  ) {
    super(
      StorageErrorCode.KEY_CONFLICT,
      `key ${key} conflicts with an existing key (one is a prefix of the other)`,
      'key',
      { cause },
    );
    this.name = 'KeyConflictError';
  }
}
