/** Where a periodic task reports a failed pass (Nest's Logger fits). */
export interface PeriodicTaskLogger {
  warn(message: string): void;
}

/**
 * A background pass run every `everyMs` (sweepers, the reconciler): passes never overlap (a tick
 * while one runs is skipped), a failed pass is logged and the next tick tries again, the timer
 * does not keep the process alive, and `stop()` clears it and waits for a pass in flight, so
 * nothing touches the database or Redis after module shutdown. `everyMs` 0 means never.
 */
export class PeriodicTask {
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly name: string,
    private readonly everyMs: number,
    private readonly pass: () => Promise<unknown>,
    private readonly logger: PeriodicTaskLogger,
  ) {}

  start(): void {
    if (this.everyMs === 0 || this.timer || this.stopped) return;
    this.timer = setInterval(() => this.tick(), this.everyMs);
    this.timer.unref();
  }

  /** Clears the timer; resolves once a pass in flight has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.current;
  }

  private tick(): void {
    if (this.current || this.stopped) return;
    this.current = this.pass()
      .then(
        () => undefined,
        (error: unknown) => {
          this.logger.warn(
            `${this.name} failed: ${error instanceof Error ? error.message : String(error)}`,
          );
        },
      )
      .finally(() => {
        this.current = undefined;
      });
  }
}
