import type { HandlerRegistry } from './handler-registry';

export interface RunningJob {
  queue: string;
  jobId: string;
  /** ISO 8601: when this worker started it. */
  since: string;
}

/**
 * The jobs this worker is running, for its advertisement (`currentJobs` of the heartbeat).
 * `wrap` returns a registry that records each dispatch while it runs; `onChange` is called
 * when a job starts or ends (the heartbeat is renewed then, not only on its timer).
 */
export class JobTracker {
  private readonly running = new Map<string, RunningJob>();
  onChange: (() => void) | undefined;

  wrap(registry: HandlerRegistry): HandlerRegistry {
    return {
      jobNames: registry.jobNames,
      dispatch: async (jobName, data, ctx) => {
        const key = `${ctx.queue}\u0000${ctx.jobId}`;
        this.running.set(key, {
          queue: ctx.queue,
          jobId: ctx.jobId,
          since: new Date().toISOString(),
        });
        this.onChange?.();
        try {
          return await registry.dispatch(jobName, data, ctx);
        } finally {
          this.running.delete(key);
          this.onChange?.();
        }
      },
    };
  }

  current(): RunningJob[] {
    return [...this.running.values()];
  }
}
