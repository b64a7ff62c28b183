import { Command, CommanderError } from 'commander';
import { fetchViewer, formatViewer } from './commands/whoami';
import { resolveConfig } from './config';
import type { ConfigFlags } from './config';
import { CliError, ExitCode } from './errors';
import { GraphQLClient } from './graphql-client';

export interface CliIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  stdout(text: string): void;
  stderr(text: string): void;
}

function buildProgram(io: CliIo): Command {
  const program = new Command('likeness')
    .description('Likeness: talking-portrait videos from one photo and a voice track')
    .option('--api-key <key>', 'API key (default: $LIKENESS_API_KEY)')
    .option('--api-url <url>', 'gateway URL (default: $LIKENESS_API_URL or http://localhost:4000)')
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout(text), writeErr: (text) => io.stderr(text) })
    .showHelpAfterError('(run likeness --help for usage)');

  program
    .command('whoami')
    .description('show the tenant, plan and API key the credentials belong to')
    .option('--json', 'print the viewer as JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const config = resolveConfig(command.optsWithGlobals<ConfigFlags>(), io.env);
      const client = new GraphQLClient({ apiUrl: config.apiUrl, token: config.apiKey });
      const viewer = await fetchViewer(client);
      io.stdout(`${options.json ? JSON.stringify(viewer, null, 2) : formatViewer(viewer)}\n`);
    });

  return program;
}

/** Runs one invocation and returns its exit code; never calls process.exit, so tests and main share it. */
export async function runCli(args: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    if (args.length === 0) {
      io.stderr(program.helpInformation());
      return ExitCode.Usage;
    }
    await program.parseAsync([...args], { from: 'user' });
    return ExitCode.Ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has already printed its message; help and version are successes.
      return error.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    }
    if (error instanceof CliError) {
      io.stderr(`error: ${error.message}\n`);
      return error.exitCode;
    }
    io.stderr(
      `error: unexpected failure: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return 1;
  }
}
