import { avatarPrepareHandler, type AvatarPrepareDeps } from './avatar/prepare-avatar';
import type { AnyJobHandler } from './handler-registry';
import { renderHandler, type RenderDeps } from './render/render-job';

export interface DefaultHandlerDeps {
  avatar: AvatarPrepareDeps;
  render: RenderDeps;
}

/** The production handler set. Payloads are validated before these run. */
export function createDefaultHandlers(deps: DefaultHandlerDeps): AnyJobHandler[] {
  return [avatarPrepareHandler(deps.avatar), renderHandler(deps.render)];
}
