import { Injectable, Logger } from '@nestjs/common';
import { EventBus } from '../realtime';

/** The topic of one avatar's changes; the tenant is part of it, so no one else hears them. */
export const avatarUpdatedTopic = (tenantId: string, avatarId: string): string =>
  `tenant:${tenantId}:avatar:${avatarId}:updated`;

/** What crosses replicas: ids only; each subscriber reads the avatar as it is then. */
export interface AvatarChanged {
  tenantId: string;
  avatarId: string;
}

/** Tells `avatarUpdated` subscribers on every replica that an avatar changed (after commits). */
@Injectable()
export class AvatarRealtime {
  private readonly logger = new Logger('Avatars');

  constructor(private readonly bus: EventBus) {}

  /** Never throws: subscriptions are a convenience, the avatar itself is in Postgres. */
  async changed(tenantId: string, avatarId: string): Promise<void> {
    try {
      const payload: AvatarChanged = { tenantId, avatarId };
      await this.bus.publish(avatarUpdatedTopic(tenantId, avatarId), payload);
    } catch (error) {
      this.logger.warn(`could not publish avatarUpdated ${avatarId}: ${String(error)}`);
    }
  }
}
