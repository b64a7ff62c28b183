import { JobName } from '@likeness/contracts';
import { UnrecoverableError } from 'bullmq';
import { avatarPrepareHandler, type AvatarPrepareDeps } from './avatar/prepare-avatar';
import { defineHandler } from './handler-registry';
import type { AnyJobHandler } from './handler-registry';

/**
 * Thrown by the handlers whose pipeline has not landed yet. Unrecoverable on purpose: retrying
 * cannot help, and the gateway should see a clear failure rather than a job that hangs.
 */
export class NotImplementedYet extends UnrecoverableError {
  constructor(readonly jobName: JobName) {
    super(
      `NotImplementedYet: the "${jobName}" job needs the inference pipeline, which this worker does not have yet`,
    );
    this.name = 'NotImplementedYet';
  }
}

/** `render` until the render pipeline is wired in. */
export const renderNotImplementedHandler = defineHandler({
  name: JobName.Render,
  handle: () => Promise.reject(new NotImplementedYet(JobName.Render)),
});

export interface DefaultHandlerDeps {
  avatar: AvatarPrepareDeps;
}

/** The production handler set. Payloads are validated before these run. */
export function createDefaultHandlers(deps: DefaultHandlerDeps): AnyJobHandler[] {
  return [avatarPrepareHandler(deps.avatar), renderNotImplementedHandler];
}
