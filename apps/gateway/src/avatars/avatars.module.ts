import { Module } from '@nestjs/common';
import { AssetsModule } from '../assets/assets.module';
import { AvatarPreparationEvents } from './avatar-preparation.events';
import { AvatarQueue } from './avatar.queue';
import { AvatarRealtime } from './avatar.realtime';
import { AvatarSweeper } from './avatar.sweeper';
import { AvatarsResolver } from './avatars.resolver';
import { AvatarsService } from './avatars.service';

/**
 * Avatars: the GraphQL API (createAvatar, avatar, avatars, similarAvatars, deleteAvatar,
 * avatarUpdated), `avatar.prepare` jobs on the `avatar` queue, the handlers of the workers'
 * `avatar.prepared` / `avatar.failed` events and the sweeper of lost jobs. Exports
 * AvatarsService for the modules that need avatars (renders).
 */
@Module({
  imports: [AssetsModule],
  providers: [
    AvatarQueue,
    AvatarRealtime,
    AvatarsService,
    AvatarPreparationEvents,
    AvatarSweeper,
    AvatarsResolver,
  ],
  exports: [AvatarsService],
})
export class AvatarsModule {}
