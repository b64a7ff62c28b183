// Webhooks through the real gateway (in-process), Postgres and Redis, delivering to a real
// receiver (node:http on a loopback port): signing, retries with backoff, timeouts, redirects,
// disabling, redelivery, rotation, the outbox (emit in a transaction), the sweeper after a lost
// queue, access and tenant isolation. Backoff, timeouts and the sweeper run on small settings.
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { verifyWebhookSignature, WebhookEventType, type WebhookEvent } from '@likeness/contracts';
import { generateApiKeySecret, type Db } from '@likeness/db';
import {
  deleteRedisPrefix,
  gql,
  newTenantWithKey,
  startGateway,
  testDb,
  type GqlBody,
  type TestGateway,
} from './support/gateway-harness';
import { WebhookReceiver } from './support/webhook-receiver';
import { WebhooksService } from '../src/webhooks';
import { WebhookSweeper } from '../src/webhooks/webhook.sweeper';

const ENV = {
  WEBHOOK_SECRET_KEY: 'webhook-spec-key-0123456789-0123456789',
  WEBHOOK_ALLOW_HTTP_LOOPBACK: 'true',
  WEBHOOK_BLOCK_PRIVATE_ADDRESSES: 'true',
  WEBHOOK_TIMEOUT_MS: '400',
  WEBHOOK_RETRY_BASE_MS: '50',
  WEBHOOK_RETRY_MAX_DELAY_MS: '200',
  WEBHOOK_DISABLE_AFTER_FAILURES: '3',
  WEBHOOK_DISABLE_AFTER_SECONDS: '0',
  WEBHOOK_SWEEP_INTERVAL_MS: '100',
  WEBHOOK_SWEEP_GRACE_MS: '250',
};

const ENDPOINT = `id url description eventTypes enabled disabledAt disabledReason
  consecutiveFailures failingSince previousSecretExpiresAt createdAt updatedAt`;
const DELIVERY = `id endpointId eventId eventType status attempts nextAttemptAt responseStatus
  lastError deliveredAt createdAt payload
  attemptLog { attempt startedAt durationMs responseStatus error nextAttemptAt }`;
const CREATE = `mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { secret endpoint { ${ENDPOINT} } } }`;
const UPDATE = `mutation($id: ID!, $input: UpdateWebhookEndpointInput!) {
  updateWebhookEndpoint(id: $id, input: $input) { ${ENDPOINT} } }`;
const DELETE = 'mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }';
const ROTATE = `mutation($id: ID!, $grace: Int) {
  rotateWebhookSecret(id: $id, gracePeriodSeconds: $grace) { secret endpoint { ${ENDPOINT} } } }`;
const TEST = `mutation($id: ID!) { sendTestWebhook(endpointId: $id) { ${DELIVERY} } }`;
const REDELIVER = `mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { ${DELIVERY} } }`;
const ENDPOINTS = `{ webhookEndpoints { ${ENDPOINT} } }`;
const ONE_ENDPOINT = `query($id: ID!) { webhookEndpoint(id: $id) { ${ENDPOINT} } }`;
const DELIVERIES = `query($endpointId: ID, $first: Int, $after: String, $status: WebhookDeliveryStatus) {
  webhookDeliveries(endpointId: $endpointId, first: $first, after: $after, status: $status) {
    edges { cursor node { ${DELIVERY} } } nodes { id }
    pageInfo { hasNextPage endCursor } } }`;
const ONE_DELIVERY = `query($id: ID!) { webhookDelivery(id: $id) { ${DELIVERY} } }`;

interface EndpointJson {
  id: string;
  url: string;
  description: string | null;
  eventTypes: string[];
  enabled: boolean;
  disabledAt: string | null;
  disabledReason: 'USER' | 'FAILING' | null;
  consecutiveFailures: number;
  failingSince: string | null;
  previousSecretExpiresAt: string | null;
}
interface AttemptJson {
  attempt: number;
  startedAt: string;
  durationMs: number;
  responseStatus: number | null;
  error: string | null;
  nextAttemptAt: string | null;
}
interface DeliveryJson {
  id: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  status: 'PENDING' | 'SUCCEEDED' | 'FAILED';
  attempts: number;
  nextAttemptAt: string | null;
  responseStatus: number | null;
  lastError: string | null;
  deliveredAt: string | null;
  createdAt: string;
  payload: string;
  attemptLog: AttemptJson[];
}

let db: Db;
let receiver: WebhookReceiver;

beforeAll(async () => {
  db = testDb();
  receiver = await new WebhookReceiver().start();
});

afterAll(async () => {
  await receiver?.close();
  await db?.close();
});

/** Polls until `probe` returns a value other than undefined. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, withinMs = 10_000) {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function client(gateway: () => TestGateway) {
  async function call(token: string, query: string, variables: Record<string, unknown> = {}) {
    return (await gql(gateway().app, { query, variables, token })).body;
  }
  async function data<T>(token: string, query: string, variables: Record<string, unknown> = {}) {
    const body = await call(token, query, variables);
    if (body.errors) throw new Error(`unexpected errors: ${JSON.stringify(body.errors)}`);
    return body.data as T;
  }
  async function create(token: string, input: Record<string, unknown>) {
    return (
      await data<{ createWebhookEndpoint: { secret: string; endpoint: EndpointJson } }>(
        token,
        CREATE,
        { input },
      )
    ).createWebhookEndpoint;
  }
  async function delivery(token: string, id: string) {
    return (await data<{ webhookDelivery: DeliveryJson | null }>(token, ONE_DELIVERY, { id }))
      .webhookDelivery;
  }
  /** Waits until the delivery is no longer PENDING. */
  function settled(token: string, id: string, withinMs = 10_000) {
    return until(
      `delivery ${id} to settle`,
      async () => {
        const d = await delivery(token, id);
        return d && d.status !== 'PENDING' ? d : undefined;
      },
      withinMs,
    );
  }
  async function sendTest(token: string, endpointId: string) {
    return (await data<{ sendTestWebhook: DeliveryJson }>(token, TEST, { id: endpointId }))
      .sendTestWebhook;
  }
  return { call, data, create, delivery, settled, sendTest };
}

function errorOf(body: GqlBody) {
  expect(body.errors).toHaveLength(1);
  return body.errors?.[0]?.extensions;
}

async function addKey(tenantId: string, scopes: string[]): Promise<string> {
  const key = generateApiKeySecret('test');
  await db.apiKeys.create(tenantId, {
    name: scopes.join(' '),
    prefix: key.prefix,
    secretHash: key.secretHash,
    scopes,
    expiresAt: null,
  });
  return key.secret;
}

describe('webhooks through one gateway', () => {
  let gateway: TestGateway;
  const api = client(() => gateway);
  let tenant: { tenantId: string; secret: string };

  beforeAll(async () => {
    gateway = await startGateway(ENV);
    tenant = await newTenantWithKey(db, { scopes: ['webhooks:write', 'webhooks:read'] });
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it('creates an endpoint (secret shown once, stored encrypted) and delivers a correctly signed test.ping', async () => {
    const url = receiver.url('/ping');
    const created = await api.create(tenant.secret, {
      url,
      eventTypes: ['render.succeeded', 'render.failed'],
      description: ' orders service ',
    });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(created.endpoint).toMatchObject({
      url,
      description: 'orders service',
      eventTypes: ['render.succeeded', 'render.failed'],
      enabled: true,
      consecutiveFailures: 0,
      previousSecretExpiresAt: null,
    });
    const [row] = await db.webhooks.listEndpoints(tenant.tenantId);
    expect(row?.secret).toMatch(/^v1\./);
    expect(row?.secret).not.toContain(created.secret.slice(6));

    const sent = await api.sendTest(tenant.secret, created.endpoint.id);
    expect(sent).toMatchObject({ eventType: 'test.ping', status: 'PENDING', attempts: 0 });
    const [request] = await receiver.waitFor('/ping', 1);
    if (!request) throw new Error('no request');
    expect(request.method).toBe('POST');
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['likeness-event']).toBe('test.ping');
    expect(request.headers['likeness-delivery']).toBe(sent.id);
    expect(request.headers['likeness-attempt']).toBe('1');
    const header = String(request.headers['likeness-signature']);
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature(created.secret, header, request.body, 300)).toMatchObject({
      valid: true,
    });
    // The same bytes with one character changed do not verify.
    expect(verifyWebhookSignature(created.secret, header, `${request.body} `, 300).valid).toBe(
      false,
    );
    const event = JSON.parse(request.body) as WebhookEvent<{ endpointId: string }>;
    expect(Object.keys(event)).toEqual(['id', 'type', 'createdAt', 'data']);
    expect(event).toMatchObject({ id: sent.eventId, type: 'test.ping' });
    expect(event.data.endpointId).toBe(created.endpoint.id);
    expect(new Date(event.createdAt).toISOString()).toBe(event.createdAt);

    const done = await api.settled(tenant.secret, sent.id);
    expect(done).toMatchObject({ status: 'SUCCEEDED', attempts: 1, responseStatus: 200 });
    expect(done.payload).toBe(request.body);
    expect(done.deliveredAt).not.toBeNull();
    expect(done.attemptLog).toEqual([
      expect.objectContaining({
        attempt: 1,
        responseStatus: 200,
        error: null,
        nextAttemptAt: null,
      }),
    ]);
    const actions = (await db.auditLog.list(tenant.tenantId)).map((e) => e.action);
    expect(actions).toContain('webhook_endpoint.create');
  });

  it('retries a 500 with backoff: 500, 500, 200 → three attempts logged, delivered', async () => {
    const { endpoint } = await api.create(tenant.secret, {
      url: receiver.url('/flaky', (n) => ({ status: n < 2 ? 500 : 200 })),
      eventTypes: ['test.ping'],
    });
    const sent = await api.sendTest(tenant.secret, endpoint.id);
    const done = await api.settled(tenant.secret, sent.id);
    expect(done).toMatchObject({ status: 'SUCCEEDED', attempts: 3, responseStatus: 200 });
    expect(done.attemptLog.map((a) => [a.attempt, a.responseStatus, a.error])).toEqual([
      [1, 500, 'HTTP 500'],
      [2, 500, 'HTTP 500'],
      [3, 200, null],
    ]);
    // Each failed attempt says when the next one is due, after the backoff (base 50 ms, ±20 %).
    const [first, second, third] = done.attemptLog;
    expect(
      Date.parse(first?.nextAttemptAt ?? '') - Date.parse(first?.startedAt ?? ''),
    ).toBeGreaterThanOrEqual(40);
    expect(
      Date.parse(second?.nextAttemptAt ?? '') - Date.parse(second?.startedAt ?? ''),
    ).toBeGreaterThanOrEqual(80);
    expect(third?.nextAttemptAt).toBeNull();
    const arrivals = receiver.at('/flaky').map((r) => r.at);
    expect(arrivals).toHaveLength(3);
    expect((arrivals[1] ?? 0) - (arrivals[0] ?? 0)).toBeGreaterThanOrEqual(35);
    expect((arrivals[2] ?? 0) - (arrivals[1] ?? 0)).toBeGreaterThanOrEqual(75);
    // Every attempt carried the same event and delivery, numbered.
    const requests = receiver.at('/flaky');
    expect(new Set(requests.map((r) => r.body)).size).toBe(1);
    expect(requests.map((r) => r.headers['likeness-attempt'])).toEqual(['1', '2', '3']);
    // A success ends the endpoint's run of failures.
    const after = await api.data<{ webhookEndpoint: EndpointJson }>(tenant.secret, ONE_ENDPOINT, {
      id: endpoint.id,
    });
    expect(after.webhookEndpoint).toMatchObject({ consecutiveFailures: 0, failingSince: null });
  });

  it('times out a slow receiver (logged with its duration) and succeeds on the next attempt', async () => {
    const { endpoint } = await api.create(tenant.secret, {
      url: receiver.url('/slow', (n) =>
        n === 0 ? { status: 200, delayMs: 1500 } : { status: 200 },
      ),
      eventTypes: ['test.ping'],
    });
    const sent = await api.sendTest(tenant.secret, endpoint.id);
    const done = await api.settled(tenant.secret, sent.id);
    expect(done).toMatchObject({ status: 'SUCCEEDED', attempts: 2 });
    const [timedOut, ok] = done.attemptLog;
    expect(timedOut).toMatchObject({
      attempt: 1,
      responseStatus: null,
      error: 'timed out after 400 ms',
    });
    expect(timedOut?.durationMs).toBeGreaterThanOrEqual(390);
    expect(timedOut?.durationMs).toBeLessThan(1500);
    expect(ok).toMatchObject({ attempt: 2, responseStatus: 200, error: null });
  });

  it('does not follow redirects', async () => {
    const { endpoint } = await api.create(tenant.secret, {
      url: receiver.url('/moved', (n) =>
        n === 0 ? { status: 307, headers: { location: receiver.url('/target') } } : { status: 200 },
      ),
      eventTypes: ['test.ping'],
    });
    const done = await api.settled(
      tenant.secret,
      (await api.sendTest(tenant.secret, endpoint.id)).id,
    );
    expect(done.attemptLog[0]).toMatchObject({ responseStatus: 307 });
    expect(done.attemptLog[0]?.error).toMatch(/redirects are not followed/);
    expect(done.status).toBe('SUCCEEDED');
    expect(receiver.at('/target')).toHaveLength(0);
  });

  it('disables an endpoint after repeated failures, fails its delivery, audits it and tells the other endpoints', async () => {
    const own = await newTenantWithKey(db, { scopes: ['webhooks:write'] });
    const { endpoint: broken } = await api.create(own.secret, {
      url: receiver.url('/broken', () => ({ status: 500 })),
      eventTypes: ['test.ping', 'webhook.endpoint.disabled'],
    });
    const { endpoint: watcher, secret: watcherSecret } = await api.create(own.secret, {
      url: receiver.url('/watcher'),
      eventTypes: ['webhook.endpoint.disabled'],
    });
    const { endpoint: bystander } = await api.create(own.secret, {
      url: receiver.url('/bystander'),
      eventTypes: ['render.succeeded'],
    });
    const sent = await api.sendTest(own.secret, broken.id);
    const done = await api.settled(own.secret, sent.id);
    // WEBHOOK_DISABLE_AFTER_FAILURES=3 (and 0 s): the third failed attempt disables it.
    expect(done).toMatchObject({ status: 'FAILED', attempts: 3, lastError: 'endpoint disabled' });
    expect(done.attemptLog.map((a) => a.responseStatus)).toEqual([500, 500, 500]);
    expect(receiver.at('/broken')).toHaveLength(3);
    const state = await api.data<{ webhookEndpoint: EndpointJson }>(own.secret, ONE_ENDPOINT, {
      id: broken.id,
    });
    expect(state.webhookEndpoint).toMatchObject({
      enabled: false,
      disabledReason: 'FAILING',
      consecutiveFailures: 3,
    });
    const [notice] = await receiver.waitFor('/watcher', 1);
    const event = JSON.parse(notice?.body ?? '{}') as WebhookEvent<{
      endpoint: { id: string; url: string };
      reason: string;
      consecutiveFailures: number;
    }>;
    expect(event.type).toBe(WebhookEventType.WebhookEndpointDisabled);
    expect(event.data).toMatchObject({
      endpoint: { id: broken.id, url: broken.url },
      reason: 'FAILING',
      consecutiveFailures: 3,
    });
    expect(
      verifyWebhookSignature(
        watcherSecret,
        String(notice?.headers['likeness-signature']),
        notice?.body ?? '',
      ).valid,
    ).toBe(true);
    // The disabled endpoint itself (subscribed too) and unsubscribed ones get nothing more.
    expect(receiver.at('/broken')).toHaveLength(3);
    expect(receiver.at('/bystander')).toHaveLength(0);
    const audit = (await db.auditLog.list(own.tenantId)).find(
      (e) => e.action === 'webhook_endpoint.disable',
    );
    expect(audit).toMatchObject({ actor: 'system', target: broken.id });
    // Disabled: no test pings or redeliveries until it is enabled again.
    expect(errorOf(await api.call(own.secret, TEST, { id: broken.id }))?.code).toBe('CONFLICT');
    expect(errorOf(await api.call(own.secret, REDELIVER, { id: sent.id }))?.code).toBe('CONFLICT');
    const enabled = await api.data<{ updateWebhookEndpoint: EndpointJson }>(own.secret, UPDATE, {
      id: broken.id,
      input: { enabled: true },
    });
    expect(enabled.updateWebhookEndpoint).toMatchObject({
      enabled: true,
      disabledReason: null,
      consecutiveFailures: 0,
    });
    expect(watcher.id).not.toBe(bystander.id);
  });

  it('redelivers an event: a new delivery with the same event id and body', async () => {
    const { endpoint, secret } = await api.create(tenant.secret, {
      url: receiver.url('/again'),
      eventTypes: ['test.ping'],
    });
    const first = await api.settled(
      tenant.secret,
      (await api.sendTest(tenant.secret, endpoint.id)).id,
    );
    const again = (
      await api.data<{ redeliverWebhook: DeliveryJson }>(tenant.secret, REDELIVER, { id: first.id })
    ).redeliverWebhook;
    expect(again.id).not.toBe(first.id);
    expect(again).toMatchObject({ eventId: first.eventId, endpointId: endpoint.id, attempts: 0 });
    const second = await api.settled(tenant.secret, again.id);
    expect(second).toMatchObject({ status: 'SUCCEEDED', attempts: 1 });
    const requests = await receiver.waitFor('/again', 2);
    expect(requests.map((r) => r.headers['likeness-delivery'])).toEqual([first.id, again.id]);
    expect(requests[1]?.body).toBe(requests[0]?.body);
    expect(
      verifyWebhookSignature(
        secret,
        String(requests[1]?.headers['likeness-signature']),
        requests[1]?.body ?? '',
      ).valid,
    ).toBe(true);
    // The original delivery keeps its own log.
    expect((await api.delivery(tenant.secret, first.id))?.attemptLog).toHaveLength(1);
  });

  it('rotates the secret: both secrets sign during the grace period, only the new one without', async () => {
    const { endpoint, secret: oldSecret } = await api.create(tenant.secret, {
      url: receiver.url('/rotate'),
      eventTypes: ['test.ping'],
    });
    const rotated = (
      await api.data<{ rotateWebhookSecret: { secret: string; endpoint: EndpointJson } }>(
        tenant.secret,
        ROTATE,
        { id: endpoint.id, grace: 3600 },
      )
    ).rotateWebhookSecret;
    expect(rotated.secret).not.toBe(oldSecret);
    const graceEnd = Date.parse(rotated.endpoint.previousSecretExpiresAt ?? '');
    expect(graceEnd - Date.now()).toBeGreaterThan(3500_000);
    await api.settled(tenant.secret, (await api.sendTest(tenant.secret, endpoint.id)).id);
    const [during] = await receiver.waitFor('/rotate', 1);
    const header = String(during?.headers['likeness-signature']);
    expect(header.match(/v1=/g)).toHaveLength(2);
    expect(verifyWebhookSignature(rotated.secret, header, during?.body ?? '').valid).toBe(true);
    expect(verifyWebhookSignature(oldSecret, header, during?.body ?? '').valid).toBe(true);

    const immediate = (
      await api.data<{ rotateWebhookSecret: { secret: string; endpoint: EndpointJson } }>(
        tenant.secret,
        ROTATE,
        { id: endpoint.id, grace: 0 },
      )
    ).rotateWebhookSecret;
    expect(immediate.endpoint.previousSecretExpiresAt).toBeNull();
    await api.settled(tenant.secret, (await api.sendTest(tenant.secret, endpoint.id)).id);
    const after = (await receiver.waitFor('/rotate', 2))[1];
    const single = String(after?.headers['likeness-signature']);
    expect(single.match(/v1=/g)).toHaveLength(1);
    expect(verifyWebhookSignature(immediate.secret, single, after?.body ?? '').valid).toBe(true);
    expect(verifyWebhookSignature(rotated.secret, single, after?.body ?? '').valid).toBe(false);
  });

  it('updates, disables (failing pending deliveries) and deletes endpoints; lists deliveries by page and status', async () => {
    const own = await newTenantWithKey(db, { scopes: ['webhooks:write'] });
    const { endpoint } = await api.create(own.secret, {
      url: receiver.url('/old'),
      eventTypes: ['render.succeeded'],
    });
    const updated = (
      await api.data<{ updateWebhookEndpoint: EndpointJson }>(own.secret, UPDATE, {
        id: endpoint.id,
        input: {
          url: receiver.url('/new'),
          eventTypes: ['avatar.ready', 'test.ping'],
          description: 'x',
        },
      })
    ).updateWebhookEndpoint;
    expect(updated).toMatchObject({
      url: receiver.url('/new'),
      eventTypes: ['avatar.ready', 'test.ping'],
    });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const d = await api.sendTest(own.secret, endpoint.id);
      ids.push(d.id);
      await api.settled(own.secret, d.id);
    }
    expect(receiver.at('/old')).toHaveLength(0);
    await receiver.waitFor('/new', 3);

    const page1 = await api.data<{
      webhookDeliveries: {
        edges: { node: DeliveryJson }[];
        pageInfo: { hasNextPage: boolean; endCursor: string };
      };
    }>(own.secret, DELIVERIES, { endpointId: endpoint.id, first: 2 });
    expect(page1.webhookDeliveries.edges.map((e) => e.node.id)).toEqual([ids[2], ids[1]]);
    expect(page1.webhookDeliveries.pageInfo.hasNextPage).toBe(true);
    const page2 = await api.data<{ webhookDeliveries: { edges: { node: DeliveryJson }[] } }>(
      own.secret,
      DELIVERIES,
      { endpointId: endpoint.id, first: 2, after: page1.webhookDeliveries.pageInfo.endCursor },
    );
    expect(page2.webhookDeliveries.edges.map((e) => e.node.id)).toEqual([ids[0]]);
    const failed = await api.data<{ webhookDeliveries: { nodes: { id: string }[] } }>(
      own.secret,
      DELIVERIES,
      { status: 'FAILED' },
    );
    expect(failed.webhookDeliveries.nodes).toEqual([]);

    // Disabling fails what is still pending (a delivery written but not yet attempted).
    const pending = await db.webhooks.emitToEndpoint(own.tenantId, endpoint.id, {
      eventType: 'test.ping',
      data: {},
      now: new Date(Date.now() + 3_600_000),
    });
    const disabled = (
      await api.data<{ updateWebhookEndpoint: EndpointJson }>(own.secret, UPDATE, {
        id: endpoint.id,
        input: { enabled: false },
      })
    ).updateWebhookEndpoint;
    expect(disabled).toMatchObject({ enabled: false, disabledReason: 'USER' });
    expect(await api.delivery(own.secret, pending?.id ?? '')).toMatchObject({
      status: 'FAILED',
      lastError: 'endpoint disabled',
    });

    expect(await api.data(own.secret, DELETE, { id: endpoint.id })).toEqual({
      deleteWebhookEndpoint: true,
    });
    expect(await db.webhooks.findDelivery(own.tenantId, ids[0] ?? '')).toBeNull();
    expect(errorOf(await api.call(own.secret, DELETE, { id: endpoint.id }))?.code).toBe(
      'NOT_FOUND',
    );
    const actions = (await db.auditLog.list(own.tenantId)).map((e) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining(['webhook_endpoint.update', 'webhook_endpoint.delete']),
    );
  });

  it.each([
    ['an invalid URL', { url: 'not a url' }, 'url'],
    ['ftp://', { url: 'ftp://example.com/hook' }, 'url'],
    ['http:// to a public host', { url: 'http://example.com/hook' }, 'url'],
    ['a private IP', { url: 'https://10.0.0.5/hook' }, 'url'],
    ['the metadata service', { url: 'https://169.254.169.254/latest/meta-data/' }, 'url'],
    ['an IPv6 unique-local address', { url: 'https://[fd00::1]/hook' }, 'url'],
    ['credentials in the URL', { url: 'https://user:pass@example.com/hook' }, 'url'],
    ['an unknown event type', { eventTypes: ['render.exploded'] }, 'eventTypes'],
    ['an empty event list', { eventTypes: [] }, 'eventTypes'],
    ['a too long description', { description: 'd'.repeat(501) }, 'description'],
  ])(
    'refuses %s with BAD_USER_INPUT naming the field, leaving no rows',
    async (_, change, field) => {
      const own = await newTenantWithKey(db, { scopes: ['webhooks:write'] });
      const input = {
        url: 'https://hooks.example.com/likeness',
        eventTypes: ['render.succeeded'],
        ...change,
      };
      const res = await gql(gateway.app, {
        query: CREATE,
        variables: { input },
        token: own.secret,
      });
      expect(res.status).toBe(400);
      expect(errorOf(res.body)).toMatchObject({ code: 'BAD_USER_INPUT', field });
      expect(await db.webhooks.listEndpoints(own.tenantId)).toEqual([]);
      expect((await db.auditLog.list(own.tenantId)).map((e) => e.action)).toEqual([]);
    },
  );

  it('keeps tenants apart: another tenant’s endpoints and deliveries are NOT_FOUND (or absent)', async () => {
    const a = await newTenantWithKey(db, { scopes: ['webhooks:write', 'webhooks:read'] });
    const b = await newTenantWithKey(db, { scopes: ['*'] });
    const { endpoint } = await api.create(a.secret, {
      url: receiver.url('/mine'),
      eventTypes: ['test.ping'],
    });
    const delivery = await api.settled(a.secret, (await api.sendTest(a.secret, endpoint.id)).id);

    expect(
      (await api.data<{ webhookEndpoints: EndpointJson[] }>(b.secret, ENDPOINTS)).webhookEndpoints,
    ).toEqual([]);
    expect(await api.data(b.secret, ONE_ENDPOINT, { id: endpoint.id })).toEqual({
      webhookEndpoint: null,
    });
    expect(await api.delivery(b.secret, delivery.id)).toBeNull();
    const all = await api.data<{ webhookDeliveries: { nodes: unknown[] } }>(
      b.secret,
      DELIVERIES,
      {},
    );
    expect(all.webhookDeliveries.nodes).toEqual([]);
    for (const [query, variables] of [
      [DELIVERIES, { endpointId: endpoint.id }],
      [UPDATE, { id: endpoint.id, input: { enabled: false } }],
      [DELETE, { id: endpoint.id }],
      [ROTATE, { id: endpoint.id }],
      [TEST, { id: endpoint.id }],
      [REDELIVER, { id: delivery.id }],
    ] as const) {
      const body = await api.call(b.secret, query, variables);
      expect({ query: query.slice(0, 40), code: errorOf(body)?.code }).toEqual({
        query: query.slice(0, 40),
        code: 'NOT_FOUND',
      });
    }
    // Nothing of A's changed, and A's receiver got only A's one delivery.
    expect((await db.webhooks.findEndpoint(a.tenantId, endpoint.id))?.disabledAt).toBeNull();
    expect(receiver.at('/mine')).toHaveLength(1);
  });

  it('lets keys with webhooks:read or webhooks:write read, only webhooks:write change, others neither', async () => {
    const reader = await addKey(tenant.tenantId, ['webhooks:read']);
    const writer = await addKey(tenant.tenantId, ['webhooks:write']);
    const other = await addKey(tenant.tenantId, ['renders:read']);
    expect((await api.call(reader, ENDPOINTS)).errors).toBeUndefined();
    expect((await api.call(writer, ENDPOINTS)).errors).toBeUndefined();
    expect((await api.call(writer, DELIVERIES, { first: 1 })).errors).toBeUndefined();
    expect(errorOf(await api.call(other, ENDPOINTS))).toMatchObject({
      code: 'FORBIDDEN',
      reason: 'MISSING_SCOPE',
    });
    const input = { url: receiver.url('/nope'), eventTypes: ['test.ping'] };
    expect(errorOf(await api.call(reader, CREATE, { input }))).toMatchObject({
      code: 'FORBIDDEN',
      reason: 'MISSING_SCOPE',
    });
  });

  describe('WebhooksService.emit (the outbox other modules use)', () => {
    it('writes deliveries only for subscribed, enabled endpoints, in the caller’s transaction, enqueued after commit', async () => {
      const own = await newTenantWithKey(db, { scopes: ['webhooks:write'] });
      const subscribed = await api.create(own.secret, {
        url: receiver.url('/emit-yes'),
        eventTypes: ['render.succeeded'],
      });
      await api.create(own.secret, {
        url: receiver.url('/emit-other'),
        eventTypes: ['avatar.ready'],
      });
      const off = await api.create(own.secret, {
        url: receiver.url('/emit-off'),
        eventTypes: ['render.succeeded'],
      });
      await api.data(own.secret, UPDATE, { id: off.endpoint.id, input: { enabled: false } });
      const webhooks = gateway.app.get(WebhooksService);

      // Rolled back with the caller's change: no rows, nothing to deliver.
      await expect(
        db.withTenant(own.tenantId, async (tx) => {
          await webhooks.emit(tx, own.tenantId, WebhookEventType.RenderSucceeded, { n: 0 });
          throw new Error('the change failed');
        }),
      ).rejects.toThrow('the change failed');
      expect((await db.webhooks.listDeliveries(own.tenantId, { first: 10 })).items).toEqual([]);

      const emission = await db.withTenant(own.tenantId, (tx) =>
        webhooks.emit(tx, own.tenantId, WebhookEventType.RenderSucceeded, { render: { id: 'r1' } }),
      );
      expect(emission.deliveryIds).toHaveLength(1);
      await emission.enqueue();
      const [request] = await receiver.waitFor('/emit-yes', 1);
      const event = JSON.parse(request?.body ?? '{}') as WebhookEvent;
      expect(event).toMatchObject({
        id: emission.eventId,
        type: 'render.succeeded',
        data: { render: { id: 'r1' } },
      });
      expect(
        verifyWebhookSignature(
          subscribed.secret,
          String(request?.headers['likeness-signature']),
          request?.body ?? '',
        ).valid,
      ).toBe(true);
      expect(receiver.at('/emit-other')).toHaveLength(0);
      expect(receiver.at('/emit-off')).toHaveLength(0);

      // Without a transaction, emit commits and enqueues itself.
      const own2 = await webhooks.emit(null, own.tenantId, WebhookEventType.RenderSucceeded, {
        n: 2,
      });
      expect(own2.deliveryIds).toHaveLength(1);
      await receiver.waitFor('/emit-yes', 2);
    });

    it('delivers a committed event whose enqueue never happened (crash after commit) through the sweeper', async () => {
      const own = await newTenantWithKey(db, { scopes: ['webhooks:write'] });
      await api.create(own.secret, { url: receiver.url('/outbox'), eventTypes: ['avatar.ready'] });
      const webhooks = gateway.app.get(WebhooksService);
      const emission = await db.withTenant(own.tenantId, (tx) =>
        webhooks.emit(tx, own.tenantId, WebhookEventType.AvatarReady, { avatar: { id: 'a1' } }),
      );
      // No emission.enqueue(): only the sweeper (every 100 ms, 250 ms grace) can deliver it.
      const [request] = await receiver.waitFor('/outbox', 1, 5000);
      expect(JSON.parse(request?.body ?? '{}')).toMatchObject({ id: emission.eventId });
      expect(request?.headers['likeness-delivery']).toBe(emission.deliveryIds[0]);
    });

    it('deletes finished deliveries past WEBHOOK_DELIVERY_RETENTION_DAYS (30) with their attempts, keeps recent ones', async () => {
      const own = await newTenantWithKey(db, { scopes: ['webhooks:write', 'webhooks:read'] });
      const { endpoint } = await api.create(own.secret, {
        url: receiver.url('/retention'),
        eventTypes: ['test.ping'],
      });
      const old = await api.settled(own.secret, (await api.sendTest(own.secret, endpoint.id)).id);
      const recent = await api.settled(
        own.secret,
        (await api.sendTest(own.secret, endpoint.id)).id,
      );
      expect([old.status, recent.status]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
      const longAgo = new Date(Date.now() - 31 * 86_400_000);
      await db.withTenant(
        own.tenantId,
        (tx) =>
          tx.$executeRaw`UPDATE webhook_deliveries SET created_at = ${longAgo} WHERE id = ${old.id}::uuid`,
      );
      const sweeper = gateway.app.get(WebhookSweeper);
      expect(await sweeper.purge()).toBeGreaterThanOrEqual(1);
      expect(await db.webhooks.findDelivery(own.tenantId, old.id)).toBeNull();
      expect(await db.webhooks.findDelivery(own.tenantId, recent.id)).not.toBeNull();
      // The sweeper's own pass purges at most once an hour per replica.
      const now = new Date();
      await sweeper.purgeIfDue(now);
      await db.withTenant(
        own.tenantId,
        (tx) =>
          tx.$executeRaw`UPDATE webhook_deliveries SET created_at = ${longAgo} WHERE id = ${recent.id}::uuid`,
      );
      expect(await sweeper.purgeIfDue(new Date(now.getTime() + 60_000))).toBe(0);
      expect(await db.webhooks.findDelivery(own.tenantId, recent.id)).not.toBeNull();
      expect(await sweeper.purgeIfDue(new Date(now.getTime() + 3_600_000))).toBeGreaterThanOrEqual(
        1,
      );
      expect(await db.webhooks.findDelivery(own.tenantId, recent.id)).toBeNull();
    });
  });
});

describe('a delivery survives the loss of its queue job and a worker restart', () => {
  it('is written by a gateway without a worker, its job lost with Redis, and delivered by the next gateway’s sweeper', async () => {
    const prefix = `test-wh-restart-${randomUUID().slice(0, 8)}`;
    const tenant = await newTenantWithKey(db, { scopes: ['webhooks:write', 'webhooks:read'] });
    const noWorker = await startGateway({ ...ENV, REDIS_PREFIX: prefix, WEBHOOK_WORKER: 'false' });
    const api1 = client(() => noWorker);
    let sent: DeliveryJson;
    try {
      const { endpoint } = await api1.create(tenant.secret, {
        url: receiver.url('/restart'),
        eventTypes: ['test.ping'],
      });
      sent = await api1.sendTest(tenant.secret, endpoint.id);
    } finally {
      await noWorker.app.close();
    }
    expect(receiver.at('/restart')).toHaveLength(0);
    // Redis restarted without persistence: the queued job is gone.
    await deleteRedisPrefix(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379', prefix);

    const next = await startGateway({ ...ENV, REDIS_PREFIX: prefix });
    try {
      const [request] = await receiver.waitFor('/restart', 1);
      expect(request?.headers['likeness-delivery']).toBe(sent.id);
      const done = await client(() => next).settled(tenant.secret, sent.id);
      expect(done).toMatchObject({ status: 'SUCCEEDED', attempts: 1 });
    } finally {
      await next.close();
    }
  });
});

describe('the retry window', () => {
  it('gives up on a delivery that keeps failing once the window (3 s here) has passed', async () => {
    const gateway = await startGateway({
      ...ENV,
      WEBHOOK_RETRY_WINDOW_SECONDS: '3',
      WEBHOOK_DISABLE_AFTER_FAILURES: '1000',
    });
    try {
      const api = client(() => gateway);
      const tenant = await newTenantWithKey(db, { scopes: ['webhooks:write', 'webhooks:read'] });
      const { endpoint } = await api.create(tenant.secret, {
        url: receiver.url('/down', () => ({ status: 503 })),
        eventTypes: ['test.ping'],
      });
      const sent = await api.sendTest(tenant.secret, endpoint.id);
      const done = await api.settled(tenant.secret, sent.id, 8000);
      expect(done.status).toBe('FAILED');
      expect(done.attempts).toBeGreaterThanOrEqual(2);
      expect(done.attemptLog).toHaveLength(done.attempts);
      expect(done.attemptLog.every((a) => a.responseStatus === 503)).toBe(true);
      expect(done.attemptLog.at(-1)?.nextAttemptAt).toBeNull();
      // Every retry was scheduled inside the window; the last attempt scheduled none.
      const windowEnd = Date.parse(sent.createdAt) + 3000;
      for (const a of done.attemptLog.slice(0, -1)) {
        expect(Date.parse(a.nextAttemptAt ?? '')).toBeLessThanOrEqual(windowEnd);
      }
      // The endpoint stays enabled (1000 failures needed here), with its failure run counted.
      const state = await api.data<{ webhookEndpoint: EndpointJson }>(tenant.secret, ONE_ENDPOINT, {
        id: endpoint.id,
      });
      expect(state.webhookEndpoint).toMatchObject({
        enabled: true,
        consecutiveFailures: done.attempts,
      });
    } finally {
      await gateway.close();
    }
  });
});
