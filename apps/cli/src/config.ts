import { CliError } from './errors';

export const DEFAULT_API_URL = 'http://localhost:4000';

export interface CliConfig {
  /** Base URL of the gateway, without a trailing slash. */
  readonly apiUrl: string;
  readonly apiKey: string;
}

export interface ConfigFlags {
  readonly apiKey?: string;
  readonly apiUrl?: string;
}

/** Flags win over the environment (`LIKENESS_API_URL`, `LIKENESS_API_KEY`); a missing key is a usage error. */
export function resolveConfig(
  flags: ConfigFlags,
  env: Readonly<Record<string, string | undefined>>,
): CliConfig {
  const rawUrl = flags.apiUrl || env['LIKENESS_API_URL'] || DEFAULT_API_URL;
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new CliError(
      'usage',
      `invalid API URL "${rawUrl}" (from ${flags.apiUrl ? '--api-url' : 'LIKENESS_API_URL'})`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError('usage', `invalid API URL "${rawUrl}": must be http:// or https://`);
  }
  const apiKey = flags.apiKey || env['LIKENESS_API_KEY'];
  if (!apiKey) throw new CliError('usage', 'no API key: pass --api-key or set LIKENESS_API_KEY');
  return { apiUrl: url.href.replace(/\/+$/, ''), apiKey };
}
