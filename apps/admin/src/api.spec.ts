import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ApiError,
  LOGIN_MUTATION,
  browserSessionStore,
  createAdminApi,
  memorySessionStore,
} from './api';

interface Seen {
  url: string;
  headers: IncomingHttpHeaders;
  body: { query: string; variables: Record<string, unknown> };
}

/** A real HTTP server answering like the gateway's /graphql for two users. */
async function startGateway(): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      const body = JSON.parse(text) as Seen['body'];
      seen.push({ url: req.url ?? '', headers: req.headers, body });
      const reply = (status: number, payload: unknown) => {
        res.writeHead(status, { 'Content-Type': 'application/graphql-response+json' });
        res.end(JSON.stringify(payload));
      };
      if (body.query.includes('login(')) {
        if (
          body.variables['email'] === 'ops@likeness.dev' &&
          body.variables['password'] === 'correct horse'
        ) {
          return reply(200, {
            data: {
              login: {
                token: 'sess_abc',
                user: { email: 'ops@likeness.dev', role: 'PLATFORM_ADMIN' },
              },
            },
          });
        }
        return reply(200, {
          data: null,
          errors: [{ message: 'Wrong email or password', extensions: { code: 'UNAUTHENTICATED' } }],
        });
      }
      if (req.headers.authorization !== 'Bearer sess_abc') {
        return reply(401, {
          errors: [{ message: 'Not signed in', extensions: { code: 'UNAUTHENTICATED' } }],
        });
      }
      return reply(200, { data: { viewer: { kind: 'USER', tenant: null } } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

async function apiError(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error('expected an ApiError');
}

describe('admin api against a real HTTP server', () => {
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  beforeAll(async () => {
    gateway = await startGateway();
  });
  afterAll(
    () =>
      new Promise<void>((resolve) => {
        gateway.server.closeAllConnections();
        gateway.server.close(() => resolve());
      }),
  );

  it('login stores the session token, and later calls send it as a Bearer token', async () => {
    const store = memorySessionStore();
    const api = createAdminApi({ baseUrl: gateway.url, store });
    const session = await api.login('ops@likeness.dev', 'correct horse');

    expect(session).toEqual({
      token: 'sess_abc',
      user: { email: 'ops@likeness.dev', role: 'PLATFORM_ADMIN' },
    });
    expect(store.load()).toEqual(session);
    expect(gateway.seen.at(-1)).toMatchObject({
      url: '/graphql',
      headers: {
        accept: 'application/graphql-response+json, application/json',
        'content-type': 'application/json',
      },
      body: {
        query: LOGIN_MUTATION,
        variables: { email: 'ops@likeness.dev', password: 'correct horse' },
      },
    });
    expect(gateway.seen.at(-1)?.headers.authorization).toBeUndefined();

    await expect(api.viewer()).resolves.toEqual({ kind: 'USER', tenant: null });
    expect(gateway.seen.at(-1)?.headers.authorization).toBe('Bearer sess_abc');
  });

  it('surfaces a GraphQL error code and stores nothing', async () => {
    const store = memorySessionStore();
    const error = await apiError(
      createAdminApi({ baseUrl: gateway.url, store }).login('ops@likeness.dev', 'wrong'),
    );
    expect(error.code).toBe('UNAUTHENTICATED');
    expect(error.message).toBe('Wrong email or password');
    expect(store.load()).toBeNull();
  });

  it('surfaces UNAUTHENTICATED from a 401 after logout', async () => {
    const api = createAdminApi({ baseUrl: gateway.url });
    await api.login('ops@likeness.dev', 'correct horse');
    api.logout();
    expect(api.session()).toBeNull();
    expect((await apiError(api.viewer())).code).toBe('UNAUTHENTICATED');
  });

  it('reports NETWORK when the gateway is unreachable', async () => {
    const api = createAdminApi({ baseUrl: 'http://127.0.0.1:1' });
    const error = await apiError(api.login('a@b.c', 'x'));
    expect(error.code).toBe('NETWORK');
    expect(error.message).toContain('http://127.0.0.1:1/graphql');
  });
});

describe('browserSessionStore', () => {
  function fakeStorage(): Storage {
    const map = new Map<string, string>();
    return {
      get length() {
        return map.size;
      },
      clear: () => map.clear(),
      getItem: (key) => map.get(key) ?? null,
      key: (index) => [...map.keys()][index] ?? null,
      removeItem: (key) => void map.delete(key),
      setItem: (key, value) => void map.set(key, value),
    };
  }

  it('keeps the session across page loads in the same tab, and forgets it on logout', () => {
    const storage = fakeStorage();
    const session = {
      token: 'sess_abc',
      user: { email: 'ops@likeness.dev', role: 'PLATFORM_ADMIN' as const },
    };
    browserSessionStore(storage).save(session);
    expect(browserSessionStore(storage).load()).toEqual(session);
    browserSessionStore(storage).save(null);
    expect(browserSessionStore(storage).load()).toBeNull();
  });

  it('ignores a corrupt stored value', () => {
    const storage = fakeStorage();
    storage.setItem('likeness.admin.session', '{"token": 1');
    expect(browserSessionStore(storage).load()).toBeNull();
  });

  it('falls back to memory where there is no sessionStorage', () => {
    const store = browserSessionStore(undefined);
    store.save({ token: 't', user: { email: 'e', role: 'TENANT_VIEWER' } });
    expect(store.load()?.token).toBe('t');
  });
});
