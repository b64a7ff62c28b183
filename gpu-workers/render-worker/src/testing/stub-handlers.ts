import { JobName } from '@likeness/contracts';
import { UnrecoverableError } from 'bullmq';
import { defineHandler } from '../handler-registry';

/** A `render` handler for specs about the worker's plumbing, not the pipeline: fails at once. */
export const failingRenderHandler = defineHandler({
  name: JobName.Render,
  handle: () => Promise.reject(new UnrecoverableError('StubRender: no pipeline in this spec')),
});
