import { randomUUID } from 'node:crypto';
import { createDb, type Db } from '../db';
import { DbError } from '../errors';
import { testDatabaseUrls } from '../testing';
import { createTenant } from '../testing/fixtures';
import type { Tenant, WebhookEndpoint } from '../types';
import { insertWebhookEvent } from './webhook.repository';

const { url, appUrl } = testDatabaseUrls();
let db: Db;
let a: Tenant;
let b: Tenant;

beforeAll(async () => {
  db = createDb({ url, appUrl });
  a = await createTenant(db, 'A');
  b = await createTenant(db, 'B');
});

afterAll(async () => {
  await db.close();
});

function endpoint(tenantId: string, eventTypes: string[], max = 20): Promise<WebhookEndpoint> {
  return db.webhooks.createEndpoint(
    tenantId,
    {
      id: randomUUID(),
      url: 'https://hooks.example.test/x',
      description: null,
      eventTypes,
      secret: 'sealed',
    },
    { maxEndpoints: max },
  );
}

const LEASE = { leaseMs: 60_000 };

describe('WebhookRepository', () => {
  it('writes one delivery per enabled, subscribed endpoint, inside the caller’s transaction', async () => {
    const t = await createTenant(db, 'events');
    const yes = await endpoint(t.id, ['render.succeeded', 'render.failed']);
    await endpoint(t.id, ['avatar.ready']);
    const off = await endpoint(t.id, ['render.succeeded']);
    await db.webhooks.updateEndpoint(t.id, off.id, { enabled: false });

    const rolledBack = db.withTenant(t.id, async (tx) => {
      await insertWebhookEvent(tx, t.id, { eventType: 'render.succeeded', data: {} });
      throw new Error('no');
    });
    await expect(rolledBack).rejects.toThrow('no');
    expect((await db.webhooks.listDeliveries(t.id, { first: 10 })).items).toEqual([]);

    const emitted = await db.webhooks.emit(t.id, {
      eventType: 'render.succeeded',
      data: { render: { id: 'r' } },
    });
    expect(emitted.deliveries).toEqual([{ id: expect.any(String), endpointId: yes.id }]);
    const [delivery] = (await db.webhooks.listDeliveries(t.id, { first: 10 })).items;
    expect(delivery).toMatchObject({
      eventId: emitted.eventId,
      status: 'PENDING',
      attempts: 0,
      payload: { id: emitted.eventId, type: 'render.succeeded', data: { render: { id: 'r' } } },
      attemptLog: [],
    });
  });

  it('refuses more endpoints than the limit', async () => {
    const t = await createTenant(db, 'limit');
    await endpoint(t.id, ['test.ping'], 2);
    await endpoint(t.id, ['test.ping'], 2);
    await expect(endpoint(t.id, ['test.ping'], 2)).rejects.toThrow(DbError);
    expect(await db.webhooks.listEndpoints(t.id)).toHaveLength(2);
  });

  it('claims an attempt once: a concurrent or repeated claim finds it not due', async () => {
    const e = await endpoint(a.id, ['test.ping']);
    const d = await db.webhooks.emitToEndpoint(a.id, e.id, { eventType: 'test.ping', data: {} });
    if (!d) throw new Error('no delivery');
    const claims = await Promise.all([
      db.webhooks.claimDelivery(a.id, d.id, LEASE),
      db.webhooks.claimDelivery(a.id, d.id, LEASE),
      db.webhooks.claimDelivery(a.id, d.id, LEASE),
    ]);
    expect(claims.filter((c) => c.kind === 'claimed')).toHaveLength(1);
    expect(claims.filter((c) => c.kind === 'skipped')).toEqual([
      { kind: 'skipped', reason: 'NOT_DUE' },
      { kind: 'skipped', reason: 'NOT_DUE' },
    ]);
    const claimed = claims.find((c) => c.kind === 'claimed');
    expect(claimed?.kind === 'claimed' && claimed.delivery.attempts).toBe(1);
    // The lease moved nextAttemptAt ahead, so the sweeper does not see it as due.
    const due = await db.webhooks.dueDeliveries(new Date(), 1000);
    expect(due.map((x) => x.deliveryId)).not.toContain(d.id);
    // Another tenant cannot claim it.
    expect(
      await db.webhooks.claimDelivery(b.id, d.id, {
        leaseMs: 1,
        now: new Date(Date.now() + 120_000),
      }),
    ).toEqual({
      kind: 'skipped',
      reason: 'NOT_FOUND',
    });
  });

  it('records attempts, schedules retries, resets the failure run on success', async () => {
    const e = await endpoint(a.id, ['test.ping']);
    const d = await db.webhooks.emitToEndpoint(a.id, e.id, { eventType: 'test.ping', data: {} });
    if (!d) throw new Error('no delivery');
    await db.webhooks.claimDelivery(a.id, d.id, LEASE);
    const retryAt = new Date(Date.now() + 1000);
    const failed = await db.webhooks.recordAttempt(a.id, d.id, {
      attempt: 1,
      startedAt: new Date(),
      durationMs: 12,
      responseStatus: 500,
      error: 'HTTP 500',
      outcome: 'RETRY',
      nextAttemptAt: retryAt,
      countsAgainstEndpoint: true,
    });
    expect(failed?.delivery).toMatchObject({ status: 'PENDING', nextAttemptAt: retryAt });
    expect(failed?.endpoint).toMatchObject({ failureCount: 1, disabled: false });
    expect(failed?.endpoint.failingSince).toBeInstanceOf(Date);
    // A stale record (an attempt number that is not the current one) is logged but changes nothing.
    await db.webhooks.recordAttempt(a.id, d.id, {
      attempt: 7,
      startedAt: new Date(),
      durationMs: 1,
      responseStatus: 200,
      error: null,
      outcome: 'SUCCEEDED',
      nextAttemptAt: null,
      countsAgainstEndpoint: true,
    });
    expect((await db.webhooks.findDelivery(a.id, d.id))?.status).toBe('PENDING');

    const claim = await db.webhooks.claimDelivery(a.id, d.id, { ...LEASE, now: retryAt });
    expect(claim.kind).toBe('claimed');
    const ok = await db.webhooks.recordAttempt(a.id, d.id, {
      attempt: 2,
      startedAt: new Date(),
      durationMs: 5,
      responseStatus: 204,
      error: null,
      outcome: 'SUCCEEDED',
      nextAttemptAt: null,
      countsAgainstEndpoint: true,
    });
    expect(ok?.delivery).toMatchObject({ status: 'SUCCEEDED', nextAttemptAt: null });
    expect(ok?.delivery.deliveredAt).toBeInstanceOf(Date);
    expect(ok?.endpoint).toMatchObject({ failureCount: 0, failingSince: null });
    const log = (await db.webhooks.findDelivery(a.id, d.id))?.attemptLog.map((x) => x.attempt);
    expect(log).toEqual([1, 2, 7]);
    expect(await db.webhooks.claimDelivery(a.id, d.id, LEASE)).toEqual({
      kind: 'skipped',
      reason: 'NOT_PENDING',
    });
  });

  it('disables a failing endpoint only while both thresholds hold, and announces it to the others', async () => {
    const t = await createTenant(db, 'disable');
    const failing = await endpoint(t.id, ['test.ping', 'webhook.endpoint.disabled']);
    const watcher = await endpoint(t.id, ['webhook.endpoint.disabled']);
    const pending = await db.webhooks.emitToEndpoint(t.id, failing.id, {
      eventType: 'test.ping',
      data: {},
    });
    await db.withTenant(
      t.id,
      (tx) =>
        tx.$executeRaw`UPDATE webhook_endpoints SET failure_count = 5, failing_since = now() - interval '1 hour' WHERE id = ${failing.id}::uuid`,
    );
    const input = {
      failingSinceAtOrBefore: new Date(Date.now() - 2 * 3_600_000),
      event: { eventType: 'webhook.endpoint.disabled', data: { endpoint: { id: failing.id } } },
    };
    // Failing for 1 h, not 2: not yet.
    expect(
      await db.webhooks.disableFailingEndpoint(t.id, failing.id, { ...input, minFailures: 5 }),
    ).toBeNull();
    const old = { ...input, failingSinceAtOrBefore: new Date() };
    expect(
      await db.webhooks.disableFailingEndpoint(t.id, failing.id, { ...old, minFailures: 6 }),
    ).toBeNull();
    const done = await db.webhooks.disableFailingEndpoint(t.id, failing.id, {
      ...old,
      minFailures: 5,
    });
    expect(done?.endpoint).toMatchObject({ disabledReason: 'FAILING' });
    expect(done?.emitted.deliveries).toEqual([{ id: expect.any(String), endpointId: watcher.id }]);
    expect((await db.webhooks.findDelivery(t.id, pending?.id ?? ''))?.status).toBe('FAILED');
    expect((await db.auditLog.list(t.id)).map((e) => [e.actor, e.action, e.target])).toContainEqual(
      ['system', 'webhook_endpoint.disable', failing.id],
    );
    // Once disabled, not again.
    expect(
      await db.webhooks.disableFailingEndpoint(t.id, failing.id, { ...old, minFailures: 5 }),
    ).toBeNull();
    await expect(db.webhooks.redeliver(t.id, pending?.id ?? '')).rejects.toThrow(DbError);
  });

  it('finds due deliveries across tenants for the sweeper (the app role cannot otherwise)', async () => {
    const ea = await endpoint(a.id, ['test.ping']);
    const eb = await endpoint(b.id, ['test.ping']);
    const past = new Date(Date.now() - 3_600_000);
    const da = await db.webhooks.emitToEndpoint(a.id, ea.id, {
      eventType: 'test.ping',
      data: {},
      now: past,
    });
    const db2 = await db.webhooks.emitToEndpoint(b.id, eb.id, {
      eventType: 'test.ping',
      data: {},
      now: past,
    });
    const future = await db.webhooks.emitToEndpoint(a.id, ea.id, {
      eventType: 'test.ping',
      data: {},
      now: new Date(Date.now() + 3_600_000),
    });
    const due = await db.webhooks.dueDeliveries(new Date(Date.now() - 60_000), 1000);
    expect(due).toEqual(
      expect.arrayContaining([
        { deliveryId: da?.id, tenantId: a.id, attempts: 0 },
        { deliveryId: db2?.id, tenantId: b.id, attempts: 0 },
      ]),
    );
    expect(due.map((d) => d.deliveryId)).not.toContain(future?.id);
  });

  it('deletes an endpoint with its deliveries and their (append-only) attempts', async () => {
    const e = await endpoint(a.id, ['test.ping']);
    const d = await db.webhooks.emitToEndpoint(a.id, e.id, { eventType: 'test.ping', data: {} });
    await db.webhooks.claimDelivery(a.id, d?.id ?? '', LEASE);
    await db.webhooks.recordAttempt(a.id, d?.id ?? '', {
      attempt: 1,
      startedAt: new Date(),
      durationMs: 1,
      responseStatus: 500,
      error: 'HTTP 500',
      outcome: 'FAILED',
      nextAttemptAt: null,
      countsAgainstEndpoint: true,
    });
    expect(await db.webhooks.deleteEndpoint(b.id, e.id)).toBe(false);
    expect(await db.webhooks.deleteEndpoint(a.id, e.id)).toBe(true);
    expect(await db.webhooks.findDelivery(a.id, d?.id ?? '')).toBeNull();
    const left = await db.withTenant(
      a.id,
      (tx) =>
        tx.$queryRaw<
          { n: bigint }[]
        >`SELECT count(*) AS n FROM webhook_delivery_attempts WHERE delivery_id = ${d?.id}::uuid`,
    );
    expect(Number(left[0]?.n)).toBe(0);
  });

  it('purges finished deliveries older than the cutoff, across tenants, never PENDING ones', async () => {
    const ea = await endpoint(a.id, ['test.ping']);
    const eb = await endpoint(b.id, ['test.ping']);
    const emit = async (tenantId: string, endpointId: string) => {
      const d = await db.webhooks.emitToEndpoint(tenantId, endpointId, {
        eventType: 'test.ping',
        data: {},
      });
      if (!d) throw new Error('no delivery');
      return d.id;
    };
    const oldDone = await emit(a.id, ea.id);
    const oldFailed = await emit(b.id, eb.id);
    const oldPending = await emit(a.id, ea.id);
    const recentDone = await emit(b.id, eb.id);
    await db.webhooks.claimDelivery(a.id, oldDone, LEASE);
    await db.webhooks.recordAttempt(a.id, oldDone, {
      attempt: 1,
      startedAt: new Date(),
      durationMs: 1,
      responseStatus: 200,
      error: null,
      outcome: 'SUCCEEDED',
      nextAttemptAt: null,
      countsAgainstEndpoint: true,
    });
    const longAgo = new Date(Date.now() - 40 * 86_400_000);
    const age = (
      tenantId: string,
      ids: string[],
      status: 'SUCCEEDED' | 'FAILED' | null,
      at?: Date,
    ) =>
      db.withTenant(tenantId, async (tx) => {
        for (const id of ids) {
          if (status) {
            await tx.$executeRaw`UPDATE webhook_deliveries
              SET status = ${status}::webhook_delivery_status WHERE id = ${id}::uuid`;
          }
          if (at)
            await tx.$executeRaw`UPDATE webhook_deliveries SET created_at = ${at} WHERE id = ${id}::uuid`;
        }
      });
    await age(a.id, [oldDone], 'SUCCEEDED', longAgo);
    await age(a.id, [oldPending], null, longAgo);
    await age(b.id, [oldFailed], 'FAILED', longAgo);
    await age(b.id, [recentDone], 'SUCCEEDED');
    const cutoff = new Date(Date.now() - 30 * 86_400_000);

    // Bounded: one row per call here.
    expect(await db.webhooks.purgeFinishedDeliveries(cutoff, 1)).toBe(1);
    expect(await db.webhooks.purgeFinishedDeliveries(cutoff, 1000)).toBeGreaterThanOrEqual(1);
    expect(await db.webhooks.findDelivery(a.id, oldDone)).toBeNull();
    expect(await db.webhooks.findDelivery(b.id, oldFailed)).toBeNull();
    expect(await db.webhooks.findDelivery(a.id, oldPending)).not.toBeNull();
    expect(await db.webhooks.findDelivery(b.id, recentDone)).not.toBeNull();
    const attempts = await db.withTenant(
      a.id,
      (tx) =>
        tx.$queryRaw<
          { n: bigint }[]
        >`SELECT count(*) AS n FROM webhook_delivery_attempts WHERE delivery_id = ${oldDone}::uuid`,
    );
    expect(Number(attempts[0]?.n)).toBe(0);
    expect(await db.webhooks.purgeFinishedDeliveries(cutoff, 1000)).toBe(0);
  });
});
