import { ConflictException, NotFoundException } from '../errors/likeness.exception';

/** No such avatar, or another tenant's (never FORBIDDEN for those). */
export class AvatarNotFoundException extends NotFoundException {
  constructor(field = 'id') {
    super('No such avatar', field);
  }
}

/** deleteAvatar while renders that use the avatar are not finished. */
export class AvatarInUseException extends ConflictException {
  constructor(message: string) {
    super(`The avatar cannot be deleted now: ${message}`, 'id');
  }
}

/** similarAvatars for an avatar without an identity embedding (not READY). */
export class AvatarNotReadyException extends ConflictException {
  constructor(status: string) {
    super(`The avatar is ${status}; only READY avatars have an identity to compare`, 'avatarId');
  }
}
