import { ErrorCode } from '@likeness/contracts';

/**
 * ffmpeg/ffprobe could not be started, or failed on input that is ours (frames we produced, a
 * file we wrote): not the caller's fault, so INTERNAL. Bad caller input is a PipelineInputError.
 * `stderrTail` is the end of the tool's stderr, for logs.
 */
export class MediaToolError extends Error {
  readonly code: ErrorCode = ErrorCode.INTERNAL;

  constructor(
    readonly tool: string,
    message: string,
    readonly stderrTail = '',
    readonly exitCode: number | null = null,
  ) {
    super(`${tool}: ${message}${stderrTail ? `\n${stderrTail}` : ''}`);
    this.name = 'MediaToolError';
  }
}
