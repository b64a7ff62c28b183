export interface DbConfig {
  /** Owner URL: migrations and the privileged path (`SET LOCAL ROLE likeness_platform`). */
  url: string;
  /** The `likeness_app` connection; default: `url` with user likeness_app / appPassword. */
  appUrl?: string;
  /** Password of likeness_app when appUrl is derived; default `likeness_app`. */
  appPassword?: string;
  /** Connections per pool (app pool; the privileged pool uses at most 2). Default 10. */
  poolMax?: number;
}

export const APP_ROLE = 'likeness_app';
export const PLATFORM_ROLE = 'likeness_platform';
export const DEFAULT_APP_PASSWORD = 'likeness_app';

/** `postgresql://owner@host/db` → `postgresql://likeness_app:<password>@host/db`. */
export function deriveAppUrl(url: string, appPassword: string = DEFAULT_APP_PASSWORD): string {
  const parsed = new URL(url);
  parsed.username = APP_ROLE;
  parsed.password = encodeURIComponent(appPassword);
  return parsed.toString();
}

/** Same server, another database. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
