import { SingleBar } from 'cli-progress';
import type { RenderProgress } from '../progress';

/** Where the progress goes: the CLI's stderr. */
export interface ProgressOutput {
  write(text: string): void;
  /** A terminal: draw a bar redrawn in place; otherwise one line per change. */
  isTTY: boolean;
  /** The terminal stream cli-progress draws on (TTY only; default process.stderr). */
  stream?: NodeJS.WriteStream;
}

/** "1m05s", "42s", "…" (unknown). */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '…';
  const s = Math.max(0, Math.round(seconds));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** "denoising  clip 2/3  step 4/8  ETA 12s" (clip and step 1-based). */
export function describeProgress(p: RenderProgress): string {
  const clip = Math.min(p.clips, p.clip + 1);
  return `${p.phase.padEnd(14)} clip ${clip}/${p.clips}  step ${p.step}/${p.steps}  ETA ${formatEta(p.etaSeconds)}`;
}

/**
 * Shows render progress on stderr: a cli-progress bar with phase, clip x/y, step and ETA on a
 * terminal; without one (a log file, CI) a plain line whenever phase, clip or step changes.
 */
export class ProgressDisplay {
  private bar: SingleBar | undefined;
  private lastLine = '';

  constructor(private readonly out: ProgressOutput) {}

  update(p: RenderProgress): void {
    const percent = Math.round(1000 * p.fraction) / 10;
    const status = describeProgress(p);
    if (!this.out.isTTY) {
      const line = `${percent.toFixed(1).padStart(5)}%  ${status}`;
      if (line === this.lastLine) return;
      this.lastLine = line;
      this.out.write(`${line}\n`);
      return;
    }
    if (!this.bar) {
      this.bar = new SingleBar({
        format: '{bar} {percentage}%  {status}',
        barsize: 24,
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        etaBuffer: 1,
        stream: this.out.stream ?? process.stderr,
        forceRedraw: true,
        fps: 10,
      });
      this.bar.start(1000, 0, { status });
    }
    this.bar.update(Math.round(1000 * p.fraction), { status });
  }

  /** Ends the bar (leaves it on screen) so the next output starts on a new line. */
  stop(): void {
    if (this.bar) {
      this.bar.stop();
      this.bar = undefined;
    }
  }
}
