// RenderRealtime on one real gateway (Postgres, Redis pub/sub): what its renderUpdated streams
// cost per replica (one poll per render, one node per published message) and that they still
// recover a lost publication and keep tenants apart.
import 'reflect-metadata';
import type { Db } from '@likeness/db';
import { DB } from '../src/infra/infra.module';
import { EventBus } from '../src/realtime';
import {
  RenderRealtime,
  renderTopic,
  tenantRendersTopic,
  type RenderEventMessage,
} from '../src/renders/render.realtime';
import type { RenderEvent } from '../src/renders/render.model';
import { cancelNow } from '../src/renders/render-transitions';
import {
  newTenantWithKey,
  startGateway,
  testDb,
  type TestGateway,
} from './support/gateway-harness';
import { startFakeWorker, type FakeWorker } from './support/fake-worker';
import { audioAsset, createRender, readyAvatar } from './support/render-fixtures';

const POLL_MS = 150;
let gateway: TestGateway;
let db: Db;
let realtime: RenderRealtime;
let worker: FakeWorker; // advertises the reference pack, so createRender accepts renders
const streams: AsyncIterableIterator<RenderEvent>[] = [];

beforeAll(async () => {
  gateway = await startGateway({ RATE_LIMIT_IP_PER_MINUTE: '100000' });
  db = testDb();
  realtime = gateway.app.get(RenderRealtime);
  realtime.pollMs = POLL_MS;
  worker = await startFakeWorker(
    process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    gateway.redisPrefix,
  );
});

afterEach(async () => {
  await Promise.all(streams.splice(0).map((s) => s.return?.()));
  jest.restoreAllMocks();
});

afterAll(async () => {
  await worker?.close();
  await gateway?.close();
  await db?.close();
});

async function queuedRender(): Promise<{ tenantId: string; renderId: string }> {
  const t = await newTenantWithKey(db, { scopes: ['renders:read', 'renders:write'] });
  const avatarId = await readyAvatar(db, t.tenantId);
  const audioAssetId = await audioAsset(db, t.tenantId, 1);
  const res = await createRender(gateway.app, t.secret, { avatarId, audioAssetId });
  const id = (res.body.data?.['createRender'] as { id?: string } | undefined)?.id;
  if (!id) throw new Error(`createRender failed: ${JSON.stringify(res.body)}`);
  return { tenantId: t.tenantId, renderId: id };
}

/** `count` renderUpdated streams of one render, each past its replay (the queued event). */
async function subscribers(tenantId: string, renderId: string, count: number) {
  const opened = await Promise.all(
    Array.from({ length: count }, () => realtime.renderEvents(tenantId, renderId, null)),
  );
  streams.push(...opened);
  const first = await Promise.all(opened.map((s) => s.next()));
  expect(first.map((r) => r.value?.type)).toEqual(Array(count).fill('render.queued'));
  return opened;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), ms))),
  ]);
}

describe('renderUpdated streams', () => {
  it('share one poll per render: many subscribers cost one query per interval', async () => {
    const { tenantId, renderId } = await queuedRender();
    const gatewayDb = gateway.app.get<Db>(DB);
    const listEvents = jest.spyOn(gatewayDb.renders, 'listEvents');
    await subscribers(tenantId, renderId, 25);
    const from = Date.now();
    listEvents.mockClear();
    await new Promise((r) => setTimeout(r, POLL_MS * 6 + POLL_MS / 2));
    const polls = listEvents.mock.calls.length;
    const intervals = Math.ceil((Date.now() - from) / POLL_MS);
    // Each subscriber polling on its own would make at least 25 queries per interval.
    expect(polls).toBeGreaterThanOrEqual(1);
    expect(polls).toBeLessThanOrEqual(intervals + 1);
    expect(listEvents.mock.calls.every(([t, r]) => t === tenantId && r === renderId)).toBe(true);
  });

  it('recover a lost publication (here the final event) through the shared poll', async () => {
    const { tenantId, renderId } = await queuedRender();
    const opened = await subscribers(tenantId, renderId, 5);
    // Written like RenderChanges does, but never published.
    const changed = await db.renders.change(tenantId, renderId, (current) => cancelNow(current));
    expect(changed?.event.sequence).toBe(2);
    const got = await withTimeout(
      Promise.all(opened.map((s) => s.next())),
      POLL_MS * 40,
      'the lost event was not recovered',
    );
    expect(got.map((r) => [r.value?.sequence, r.value?.type, r.value?.render.status])).toEqual(
      Array(5).fill([2, 'render.canceled', 'CANCELED']),
    );
    // The final event ends every stream.
    const ends = await Promise.all(opened.map((s) => s.next()));
    expect(ends.every((r) => r.done)).toBe(true);
  });

  it("convert a published message once for all subscribers and drop other tenants' messages", async () => {
    const { tenantId, renderId } = await queuedRender();
    const other = await newTenantWithKey(db);
    const opened = await subscribers(tenantId, renderId, 3);
    const bus = gateway.app.get(EventBus);
    const snapshot = (await db.renders.lastEvent(tenantId, renderId))?.payload ?? null;
    const message = (tenantOf: string, type: string): RenderEventMessage => ({
      tenantId: tenantOf,
      renderId,
      sequence: 2,
      type,
      at: new Date().toISOString(),
      payload: snapshot,
    });
    // A message claiming another tenant on this render's topic must never be delivered.
    await bus.publish(renderTopic(renderId), message(other.tenantId, 'render.started'));
    await bus.publish(renderTopic(renderId), message(tenantId, 'render.cancel-requested'));
    const got = await withTimeout(
      Promise.all(opened.map((s) => s.next())),
      5000,
      'the published event was not delivered',
    );
    expect(got.map((r) => [r.value?.sequence, r.value?.type])).toEqual(
      Array(3).fill([2, 'render.cancel-requested']),
    );
    // One node shared by the three subscribers.
    expect(got[1]?.value).toBe(got[0]?.value);
    expect(got[2]?.value).toBe(got[0]?.value);
  });
});

describe('a renderUpdated stream read ahead', () => {
  it('answers next() calls made before the events in order, and ends those still waiting', async () => {
    const { tenantId, renderId } = await queuedRender();
    const [stream] = (await subscribers(tenantId, renderId, 1)) as [
      AsyncIterableIterator<RenderEvent>,
    ];
    const bus = gateway.app.get(EventBus);
    const snapshot = (await db.renders.lastEvent(tenantId, renderId))?.payload ?? null;
    const pending = [stream.next(), stream.next(), stream.next()];
    for (const sequence of [2, 3]) {
      await bus.publish(renderTopic(renderId), {
        tenantId,
        renderId,
        sequence,
        type: 'render.cancel-requested',
        at: new Date().toISOString(),
        payload: snapshot,
      } satisfies RenderEventMessage);
    }
    const [first, second] = await withTimeout(
      Promise.all(pending.slice(0, 2)),
      5000,
      'the published events were not delivered',
    );
    expect([first?.value?.sequence, second?.value?.sequence]).toEqual([2, 3]);
    await stream.return?.();
    expect(await pending[2]).toEqual({ value: undefined, done: true });
  });
});

describe('rendersUpdated streams', () => {
  it('keep the order of each render apart, also after one of them finished', async () => {
    const t = await newTenantWithKey(db, { scopes: ['renders:read', 'renders:write'] });
    const avatarId = await readyAvatar(db, t.tenantId);
    const audioAssetId = await audioAsset(db, t.tenantId, 1);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await createRender(gateway.app, t.secret, { avatarId, audioAssetId });
      const id = (res.body.data?.['createRender'] as { id?: string } | undefined)?.id;
      if (!id) throw new Error(`createRender failed: ${JSON.stringify(res.body)}`);
      ids.push(id);
    }
    const [a, b, c] = ids as [string, string, string];
    const stream = await realtime.tenantEvents(t.tenantId);
    streams.push(stream);
    const bus = gateway.app.get(EventBus);
    const publish = async (renderId: string, sequence: number, type: string) => {
      const snapshot = (await db.renders.lastEvent(t.tenantId, renderId))?.payload ?? null;
      const message: RenderEventMessage = {
        tenantId: t.tenantId,
        renderId,
        sequence,
        type,
        at: new Date().toISOString(),
        payload: snapshot,
      };
      await bus.publish(tenantRendersTopic(t.tenantId), message);
    };
    const progress = 'render.cancel-requested';
    await publish(a, 2, progress);
    await publish(b, 2, progress);
    await publish(a, 2, progress); // a duplicate: dropped
    await publish(b, 3, progress);
    await publish(a, 3, 'render.canceled'); // a is done: the stream forgets it
    await publish(c, 2, progress);
    await publish(b, 3, progress); // still known: dropped
    await publish(c, 2, progress); // dropped
    await publish(b, 4, progress);
    const got: [string | undefined, number | undefined][] = [];
    for (let i = 0; i < 6; i++) {
      const r = await withTimeout(stream.next(), 5000, `event ${i} was not delivered`);
      got.push([r.value?.render.id, r.value?.sequence]);
    }
    expect(got).toEqual([
      [a, 2],
      [b, 2],
      [b, 3],
      [a, 3],
      [c, 2],
      [b, 4],
    ]);
  });
});
