export { AvatarsModule } from './avatars.module';
export { AvatarsService } from './avatars.service';
export { Avatar, AvatarStatus, toAvatarNode } from './avatar.model';
