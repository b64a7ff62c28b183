/** The dashboard's typed GraphQL calls to the gateway (API.md). No client library: two operations so far. */

export const userRoles = ['PLATFORM_ADMIN', 'TENANT_ADMIN', 'TENANT_VIEWER'] as const;
export type UserRole = (typeof userRoles)[number];

export interface SessionUser {
  readonly email: string;
  readonly role: UserRole;
}

export interface Session {
  readonly token: string;
  readonly user: SessionUser;
}

export interface ViewerTenant {
  readonly id: string;
  readonly name: string;
  readonly plan: string;
  readonly status: string;
}

export interface Viewer {
  readonly kind: string;
  readonly tenant: ViewerTenant | null;
}

export const LOGIN_MUTATION =
  'mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { token user { email role } } }';
export const VIEWER_QUERY = 'query Viewer { viewer { kind tenant { id name plan status } } }';

/** A failed call: `code` is the GraphQL `extensions.code`, `HTTP_<status>`, `NETWORK` or `BAD_RESPONSE`. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Where the session token lives: sessionStorage in the browser (gone when the tab closes), memory otherwise. */
export interface SessionStore {
  load(): Session | null;
  save(session: Session | null): void;
}

export function memorySessionStore(initial: Session | null = null): SessionStore {
  let current = initial;
  return {
    load: () => current,
    save: (session) => {
      current = session;
    },
  };
}

const STORAGE_KEY = 'likeness.admin.session';

export function browserSessionStore(
  storage: Storage | undefined = globalThis.sessionStorage,
): SessionStore {
  if (!storage) return memorySessionStore();
  const memory = memorySessionStore(readSession(storage));
  return {
    load: () => memory.load(),
    save: (session) => {
      memory.save(session);
      try {
        if (session) storage.setItem(STORAGE_KEY, JSON.stringify(session));
        else storage.removeItem(STORAGE_KEY);
      } catch {
        // Storage full or blocked (private mode): the in-memory copy still works for this page.
      }
    },
  };
}

function readSession(storage: Storage): Session | null {
  try {
    const value: unknown = JSON.parse(storage.getItem(STORAGE_KEY) ?? 'null');
    return isSession(value) ? value : null;
  } catch {
    return null;
  }
}

type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface AdminApiOptions {
  /** Gateway origin; '' (the default) means the page's own origin, as when served at /admin. */
  readonly baseUrl?: string;
  readonly store?: SessionStore;
  readonly fetch?: FetchLike;
}

export interface AdminApi {
  session(): Session | null;
  login(email: string, password: string): Promise<Session>;
  viewer(): Promise<Viewer>;
  logout(): void;
}

export function createAdminApi(options: AdminApiOptions = {}): AdminApi {
  const endpoint = `${(options.baseUrl ?? '').replace(/\/+$/, '')}/graphql`;
  const store = options.store ?? memorySessionStore();
  const fetchImpl: FetchLike = options.fetch ?? ((input, init) => fetch(input, init));

  async function request<TData>(
    query: string,
    variables: Readonly<Record<string, unknown>>,
  ): Promise<TData> {
    const token = store.load()?.token;
    let response: Response;
    let text: string;
    try {
      response = await fetchImpl(endpoint, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/graphql-response+json, application/json',
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ query, variables }),
      });
      text = await response.text();
    } catch {
      throw new ApiError('NETWORK', `Cannot reach the gateway at ${endpoint}.`);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const errors =
      isRecord(body) && Array.isArray(body['errors']) ? (body['errors'] as unknown[]) : [];
    const [first] = errors;
    if (isRecord(first)) {
      const extensions = isRecord(first['extensions']) ? first['extensions'] : {};
      const code =
        typeof extensions['code'] === 'string' ? extensions['code'] : `HTTP_${response.status}`;
      throw new ApiError(
        code,
        typeof first['message'] === 'string' ? first['message'] : 'Request failed.',
      );
    }
    if (!response.ok)
      throw new ApiError(`HTTP_${response.status}`, `The gateway answered ${response.status}.`);
    if (!isRecord(body) || !isRecord(body['data']))
      throw new ApiError('BAD_RESPONSE', 'The gateway sent no data.');
    return body['data'] as TData;
  }

  return {
    session: () => store.load(),
    async login(email, password) {
      const data = await request<{ login?: unknown }>(LOGIN_MUTATION, { email, password });
      if (!isSession(data.login))
        throw new ApiError('BAD_RESPONSE', 'The gateway sent an unexpected session.');
      store.save(data.login);
      return data.login;
    },
    async viewer() {
      const data = await request<{ viewer?: Viewer }>(VIEWER_QUERY, {});
      if (!isRecord(data.viewer) || typeof data.viewer.kind !== 'string') {
        throw new ApiError('BAD_RESPONSE', 'The gateway sent an unexpected viewer.');
      }
      return data.viewer;
    },
    logout: () => store.save(null),
  };
}

function isSession(value: unknown): value is Session {
  if (!isRecord(value) || typeof value['token'] !== 'string' || value['token'] === '') return false;
  const user = value['user'];
  return (
    isRecord(user) &&
    typeof user['email'] === 'string' &&
    (userRoles as readonly unknown[]).includes(user['role'])
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
