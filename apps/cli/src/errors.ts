/** Exit codes are part of the CLI's contract: scripts branch on them. */
export const ExitCode = {
  Ok: 0,
  Usage: 2,
  Api: 3,
  Network: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export type CliErrorKind = 'usage' | 'api' | 'network';

const exitCodeOf: Record<CliErrorKind, ExitCode> = {
  usage: ExitCode.Usage,
  api: ExitCode.Api,
  network: ExitCode.Network,
};

/** Every failure the CLI reports: a message for humans, an exit code for scripts. */
export class CliError extends Error {
  readonly exitCode: ExitCode;

  constructor(
    readonly kind: CliErrorKind,
    message: string,
    /** The API's `extensions.code` (API errors only), e.g. UNAUTHENTICATED. */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCodeOf[kind];
  }
}
