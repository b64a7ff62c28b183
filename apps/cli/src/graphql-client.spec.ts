import { CliError } from './errors';
import { GraphQLClient } from './graphql-client';
import { fetchViewer } from './commands/whoami';
import { startFakeGateway } from './testing/fake-gateway';
import type { CannedResponse, FakeGateway } from './testing/fake-gateway';

/** In-process cases that are awkward to reach through the spawned CLI. */
describe('GraphQLClient', () => {
  let gateway: FakeGateway;
  let next: CannedResponse;
  beforeAll(async () => {
    gateway = await startFakeGateway(() => next);
  });
  afterAll(() => gateway.close());

  async function failure(run: () => Promise<unknown>): Promise<CliError> {
    try {
      await run();
    } catch (error) {
      if (error instanceof CliError) return error;
      throw error;
    }
    throw new Error('expected a CliError');
  }

  it('returns data and sends variables', async () => {
    next = { status: 200, body: JSON.stringify({ data: { ok: true } }) };
    const client = new GraphQLClient({ apiUrl: gateway.url, token: 't' });
    await expect(client.request('query Q($id: ID!) { ok }', { id: '1' })).resolves.toEqual({
      ok: true,
    });
    expect(gateway.requests.at(-1)?.body).toEqual({
      query: 'query Q($id: ID!) { ok }',
      variables: { id: '1' },
    });
  });

  it('reports a GraphQL error on a 200 response with its code and every message', async () => {
    next = {
      status: 200,
      body: JSON.stringify({
        data: null,
        errors: [
          { message: 'Monthly render quota used up', extensions: { code: 'QUOTA_EXCEEDED' } },
          { message: 'second' },
        ],
      }),
    };
    const error = await failure(() =>
      new GraphQLClient({ apiUrl: gateway.url, token: 't' }).request('{ x }'),
    );
    expect(error).toMatchObject({ kind: 'api', code: 'QUOTA_EXCEEDED', exitCode: 3 });
    expect(error.message).toBe('QUOTA_EXCEEDED: Monthly render quota used up; second');
  });

  it('reports a non-GraphQL HTTP failure by status', async () => {
    next = { status: 502, body: '<html>Bad Gateway</html>', contentType: 'text/html' };
    const error = await failure(() =>
      new GraphQLClient({ apiUrl: gateway.url, token: 't' }).request('{ x }'),
    );
    expect(error).toMatchObject({ kind: 'api', code: 'HTTP_502', exitCode: 3 });
    expect(error.message).toContain(`${gateway.url}/graphql`);
  });

  it('turns a timeout into a network error naming the URL', async () => {
    const hang = (_input: string, init: RequestInit) =>
      new Promise<Response>((_resolve, reject) =>
        init.signal?.addEventListener('abort', () => reject(init.signal?.reason)),
      );
    const client = new GraphQLClient({
      apiUrl: 'http://gateway.invalid:4000',
      token: 't',
      timeoutMs: 50,
      fetch: hang,
    });
    const error = await failure(() => client.request('{ x }'));
    expect(error).toMatchObject({ kind: 'network', exitCode: 4 });
    expect(error.message).toBe(
      'cannot reach the Likeness API at http://gateway.invalid:4000/graphql: no answer within 0.05 s',
    );
  });

  it('rejects a viewer of the wrong shape with the field that is off', async () => {
    next = {
      status: 200,
      body: JSON.stringify({
        data: { viewer: { kind: 'API_KEY', tenant: { id: 1 }, apiKey: null } },
      }),
    };
    const error = await failure(() =>
      fetchViewer(new GraphQLClient({ apiUrl: gateway.url, token: 't' })),
    );
    expect(error).toMatchObject({ kind: 'api', code: 'BAD_RESPONSE' });
    expect(error.message).toMatch(/viewer\.tenant\.id/);
  });
});
