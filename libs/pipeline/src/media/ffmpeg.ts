import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { MediaToolError } from './media.errors';

/** Where the ffmpeg and ffprobe executables are; found on PATH unless configured. */
export interface MediaTools {
  ffmpeg: string;
  ffprobe: string;
}

let tools: MediaTools = { ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' };

/** Sets the executables once at start-up (the worker's config); the library reads no env. */
export function configureMediaTools(override: Partial<MediaTools>): void {
  tools = { ...tools, ...override };
}

export function mediaTools(): Readonly<MediaTools> {
  return tools;
}

/** Keeps only the end of a stream's text: ffmpeg can log megabytes, errors are at the end. */
export class TextTail {
  private text = '';

  constructor(private readonly limit = 4096) {}

  push(chunk: Buffer | string): void {
    this.text += chunk.toString();
    if (this.text.length > 2 * this.limit) this.text = this.text.slice(-this.limit);
  }

  toString(): string {
    return this.text.slice(-this.limit).trim();
  }

  /** The last non-empty line: ffmpeg's reason for failing. */
  lastLine(): string {
    const lines = this.toString()
      .split('\n')
      .filter((l) => l.trim() !== '');
    return lines[lines.length - 1]?.trim() ?? '';
  }
}

export interface ToolExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: TextTail;
}

export interface RunningTool {
  child: ChildProcess;
  stdin: Writable | null;
  stdout: Readable | null;
  /** Settles when the process has exited and its pipes are closed; rejects if it never started. */
  exited: Promise<ToolExit>;
}

/**
 * Starts ffmpeg or ffprobe with `args` (never through a shell). stderr goes to a bounded tail;
 * stdin and stdout are pipes only when asked for.
 */
export function startTool(
  tool: keyof MediaTools,
  args: readonly string[],
  stdio: { stdin?: boolean; stdout?: boolean } = {},
): RunningTool {
  const child = spawn(tools[tool], args, {
    stdio: [stdio.stdin ? 'pipe' : 'ignore', stdio.stdout ? 'pipe' : 'ignore', 'pipe'],
    windowsHide: true,
  });
  const stderr = new TextTail();
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
  // A child that exits early makes writes fail with EPIPE; that surfaces through `exited`.
  child.stdin?.on('error', () => undefined);
  const exited = new Promise<ToolExit>((resolve, reject) => {
    let settled = false;
    child.once('error', (e: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      reject(
        new MediaToolError(
          tool,
          e.code === 'ENOENT'
            ? `executable "${tools[tool]}" not found (install ffmpeg: scripts/ensure-deps.sh)`
            : `could not run "${tools[tool]}": ${e.message}`,
        ),
      );
    });
    child.once('close', (code, signal) => {
      if (settled) return;
      settled = true;
      resolve({ code, signal, stderr });
    });
  });
  // Callers may never await `exited` when they fail first; avoid an unhandled rejection.
  exited.catch(() => undefined);
  return { child, stdin: child.stdin, stdout: child.stdout, exited };
}

/** Runs a tool to completion and returns its stdout (for small outputs such as ffprobe JSON). */
export async function runTool(
  tool: keyof MediaTools,
  args: readonly string[],
  maxStdoutBytes = 16 * 1024 * 1024,
): Promise<{ exit: ToolExit; stdout: Buffer }> {
  const run = startTool(tool, args, { stdout: true });
  const chunks: Buffer[] = [];
  let bytes = 0;
  run.stdout?.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes > maxStdoutBytes) run.child.kill('SIGKILL');
    else chunks.push(chunk);
  });
  const exit = await run.exited;
  if (bytes > maxStdoutBytes) {
    throw new MediaToolError(tool, `printed more than ${maxStdoutBytes} bytes`);
  }
  return { exit, stdout: Buffer.concat(chunks) };
}

/** Kills a tool (if still running) and waits for it to be gone. */
export async function killTool(run: RunningTool): Promise<void> {
  if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
  await run.exited.catch(() => undefined);
}
