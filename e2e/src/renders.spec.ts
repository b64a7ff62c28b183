// The product's main job, whole: real PostgreSQL, a Redis server of this spec's own, the gateway
// and render workers as separate processes (as `npm start` runs them), graphql-ws subscribers.
// A partner uploads a portrait and a voice track, makes an avatar, renders, watches it live and
// downloads the MP4 — and nothing is lost when a worker is killed, Redis comes back empty or the
// gateway restarts. Renders are small (64 px, 2 steps) so the suite stays quick on 2 cores; the
// pipeline's own specs and benchmarks cover quality and speed.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { probeMedia } from '@likeness/pipeline';
import { faceApiDemoPhotos, makeSpeechWav } from '@likeness/pipeline/testing';
import { Client as PgClient } from 'pg';
import sharp from 'sharp';
import { collect } from './support';
import {
  gql,
  graphql,
  prepareDataDir,
  PrivateRedis,
  type Proc,
  RENDER_UPDATED,
  type RenderEventJson,
  startGateway,
  startWorker,
  Subscription,
  type SystemOptions,
  tsProcess,
  upload,
  waitUntil,
} from './system';

jest.setTimeout(600_000);

const RENDER = `id status attempts seed identityScore audioSeconds frames
  cost { amountCents } error { code message field ourFault }
  output { assetId url durationSeconds width height fps frames bytes }`;

interface RenderJson {
  id: string;
  status: string;
  attempts: number;
  identityScore: number | null;
  audioSeconds: number;
  frames: number;
  cost: { amountCents: number } | null;
  error: { code: string; message: string } | null;
  output: {
    url: string;
    durationSeconds: number;
    width: number;
    height: number;
    fps: number;
    frames: number;
    bytes: number;
  } | null;
}

const FINAL = new Set(['render.succeeded', 'render.failed', 'render.canceled']);
const ended = (events: RenderEventJson[]) => events.some((e) => FINAL.has(e.type));

/** The sequences 1…n once each, in order. */
function expectGapFree(events: RenderEventJson[]): void {
  expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));
}

describe('avatars and renders, whole system', () => {
  let dataDir: string;
  let redis: PrivateRedis;
  let options: SystemOptions;
  let gateway: { proc: Proc; url: string };
  const workers: Proc[] = [];
  let db: PgClient;
  let keyA: string;
  let keyB: string;
  let avatarA: string;
  let shortAudio: string; // 2 s
  let longAudio: string; // 5 s: several clips

  const url = () => gateway.url;

  async function createTenantKey(adminToken: string, slug: string): Promise<string> {
    const { createTenant } = await gql<{ createTenant: { id: string } }>(
      url(),
      adminToken,
      `mutation($input: CreateTenantInput!) { createTenant(input: $input) { id } }`,
      { input: { name: slug, slug, plan: 'pro' } },
    );
    const email = `admin@${slug}.test`;
    const password = 'a long enough password';
    await gql(
      url(),
      adminToken,
      `mutation($input: CreateUserInput!) { createUser(input: $input) { id } }`,
      { input: { email, password, role: 'TENANT_ADMIN', tenantId: createTenant.id } },
    );
    const { login } = await gql<{ login: { token: string } }>(
      url(),
      null,
      `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }`,
      { e: email, p: password },
    );
    const { createApiKey } = await gql<{ createApiKey: { secret: string } }>(
      url(),
      login.token,
      `mutation { createApiKey(input: { name: "e2e", scopes: ["*"], environment: TEST }) { secret } }`,
    );
    return createApiKey.secret;
  }

  async function getRender(id: string, key = keyA): Promise<RenderJson> {
    const { render } = await gql<{ render: RenderJson }>(
      url(),
      key,
      `query($id: ID!) { render(id: $id) { ${RENDER} } }`,
      { id },
    );
    return render;
  }

  async function createRender(
    audioAssetId: string,
    extra: Record<string, unknown> = {},
    idempotencyKey?: string,
  ) {
    return graphql<{ createRender: RenderJson }>(
      url(),
      keyA,
      `mutation($input: RenderInput!, $key: String) {
         createRender(input: $input, idempotencyKey: $key) { ${RENDER} } }`,
      {
        input: { avatarId: avatarA, audioAssetId, maxSide: 64, steps: 2, seed: 7, ...extra },
        key: idempotencyKey,
      },
    );
  }

  async function rendered(audioAssetId: string, extra: Record<string, unknown> = {}) {
    const answer = await createRender(audioAssetId, extra);
    if (!answer.data) throw new Error(JSON.stringify(answer.errors));
    return answer.data.createRender;
  }

  const waitForStatus = (id: string, statuses: string[], timeoutMs: number) =>
    waitUntil(
      `render ${id} to reach ${statuses.join('/')}`,
      async () => {
        const render = await getRender(id);
        return statuses.includes(render.status) ? render : undefined;
      },
      timeoutMs,
    );

  async function usageRows(renderId: string): Promise<number> {
    const { rows } = await db.query<{ n: string }>(
      'SELECT count(*) AS n FROM usage_events WHERE render_id = $1',
      [renderId],
    );
    return Number(rows[0]?.n);
  }

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    dataDir = await mkdtemp(path.join(tmpdir(), 'likeness-e2e-renders-'));
    await prepareDataDir(dataDir);
    options = {
      dataDir,
      redisUrl: redis.url,
      prefix: `e2e-${randomBytes(4).toString('hex')}`,
      gatewayEnv: {
        RENDER_DISPATCH_INTERVAL_MS: '200',
        RENDER_RECONCILE_INTERVAL_MS: '1000',
        RENDER_WORKER_LOST_SECONDS: '5',
        WORKER_EVENTS_CLAIM_IDLE_MS: '2000',
      },
    };
    const adminEnv = {
      LIKENESS_DATA_DIR: dataDir,
      LIKENESS_ADMIN_EMAIL: 'admin@renders.test',
      LIKENESS_ADMIN_PASSWORD: 'correct horse battery',
    };
    const seeded = await collect(
      tsProcess('libs/db/src/cli.ts', 'tsconfig.json', adminEnv, ['seed']),
    );
    expect(seeded.code).toBe(0);

    db = new PgClient({ connectionString: process.env['DATABASE_URL'] });
    await db.connect();

    // Gateway and the first worker start together (the worker loads and warms its packs).
    const [g, w] = await Promise.all([startGateway(options), startWorker(options, 'worker-1')]);
    gateway = g;
    workers.push(w);

    const { login } = await gql<{ login: { token: string } }>(
      url(),
      null,
      `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }`,
      { e: adminEnv.LIKENESS_ADMIN_EMAIL, p: adminEnv.LIKENESS_ADMIN_PASSWORD },
    );
    const suffix = randomBytes(3).toString('hex');
    keyA = await createTenantKey(login.token, `studio-a-${suffix}`);
    keyB = await createTenantKey(login.token, `studio-b-${suffix}`);

    // sample2.jpg around its one frontal face.
    const photo = await sharp(faceApiDemoPhotos()[1])
      .extract({ left: 1255, top: 0, width: 600, height: 700 })
      .jpeg()
      .toBuffer();
    const short = await makeSpeechWav('Hello there, this is a test.', path.join(dataDir, 's.wav'), {
      durationSeconds: 2,
    });
    const long = await makeSpeechWav(
      'Hello there. This voice goes on a little longer, so that the video needs several clips.',
      path.join(dataDir, 'l.wav'),
      { durationSeconds: 5 },
    );
    const imageId = await upload(url(), keyA, photo);
    shortAudio = await upload(url(), keyA, await readFile(short.path));
    longAudio = await upload(url(), keyA, await readFile(long.path));

    const { createAvatar } = await gql<{ createAvatar: { id: string } }>(
      url(),
      keyA,
      `mutation($input: CreateAvatarInput!) { createAvatar(input: $input) { id } }`,
      { input: { name: 'Ada', imageAssetId: imageId, consent: { attestation: 'I am Ada.' } } },
    );
    avatarA = createAvatar.id;
    await waitUntil(
      'the avatar to be READY',
      async () => {
        const { avatar } = await gql<{ avatar: { status: string; failure: unknown } }>(
          url(),
          keyA,
          `query($id: ID!) { avatar(id: $id) { status failure { reason message } } }`,
          { id: avatarA },
        );
        if (avatar.status === 'FAILED') throw new Error(JSON.stringify(avatar.failure));
        return avatar.status === 'READY';
      },
      60_000,
    );
  });

  afterAll(async () => {
    const procs = [...workers, gateway?.proc].filter((p): p is Proc => p !== undefined);
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    await redis?.stop();
    await db?.end();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  afterEach(() => {
    // On failure the processes' last words are the most useful thing to read.
    const state = expect.getState();
    if (state.assertionCalls !== state.numPassingAsserts) {
      for (const p of [gateway.proc, ...workers]) {
        process.stderr.write(`--- ${p.name} ---\n${p.tail(4000)}\n`);
      }
    }
  });

  it('upload → avatar → render: the subscriber sees every phase in order and the MP4 probes right', async () => {
    const created = await rendered(shortAudio);
    expect(created.status).toBe('QUEUED');
    const sub = new Subscription(url(), keyA, RENDER_UPDATED, { id: created.id, after: 0 });
    try {
      await sub.waitFor(ended, 240_000);
      await sub.completed;
      expectGapFree(sub.events);
      const types = sub.events.map((e) => e.type);
      expect(types[0]).toBe('render.queued');
      expect(types.at(-1)).toBe('render.succeeded');
      const order = ['render.queued', 'render.started', 'render.progress', 'render.clip-finished'];
      const firstIndex = order.map((t) => types.indexOf(t));
      expect(firstIndex.every((i) => i >= 0)).toBe(true);
      expect([...firstIndex].sort((a, b) => a - b)).toEqual(firstIndex);
      // Encoding (the last clip's frames going into the MP4), when seen, comes once every
      // earlier clip is finished and before success.
      const encoding = types.indexOf('render.encoding');
      if (encoding >= 0) {
        expect(
          types.slice(encoding + 1).filter((t) => t === 'render.clip-finished').length,
        ).toBeLessThanOrEqual(1);
      }
    } finally {
      await sub.close();
    }

    const render = await getRender(created.id);
    expect(render.status).toBe('SUCCEEDED');
    expect(render.identityScore).not.toBeNull();
    const output = render.output!;
    expect(output.width % 16).toBe(0);
    expect(Math.max(output.width, output.height)).toBe(64);
    const video = await fetch(output.url);
    expect(video.status).toBe(200);
    const file = path.join(dataDir, 'out.mp4');
    await writeFile(file, Buffer.from(await video.arrayBuffer()));
    const probe = await probeMedia(file);
    expect(probe.video).toMatchObject({ width: output.width, height: output.height });
    expect(Math.abs((probe.video?.fps ?? 0) - output.fps)).toBeLessThan(0.01);
    expect(Math.abs((probe.video?.durationSeconds ?? 0) - render.audioSeconds)).toBeLessThanOrEqual(
      1 / output.fps + 0.05,
    );
    expect(probe.audio).not.toBeNull();
    expect(await usageRows(created.id)).toBe(1);
  });

  it('idempotency: same key and input → the same render; another input → CONFLICT', async () => {
    const key = `idem-${randomBytes(4).toString('hex')}`;
    const first = await createRender(shortAudio, { priority: -10 }, key);
    const again = await createRender(shortAudio, { priority: -10 }, key);
    expect(again.data?.createRender.id).toBe(first.data?.createRender.id);
    const other = await createRender(shortAudio, { priority: -10, seed: 8 }, key);
    expect(other.errors?.[0]?.extensions).toMatchObject({
      code: 'CONFLICT',
      field: 'idempotencyKey',
    });
    const id = first.data!.createRender.id;
    await gql(url(), keyA, `mutation($id: ID!) { cancelRender(id: $id) { id } }`, { id });
    await waitForStatus(id, ['CANCELED'], 60_000);
  });

  it("keeps tenants apart: another tenant's key sees nothing of tenant A's render and avatar", async () => {
    const mine = await rendered(shortAudio, { priority: -10 });
    const seen = await graphql<{ render: unknown; avatar: unknown }>(
      url(),
      keyB,
      `
        query ($r: ID!, $a: ID!) {
          render(id: $r) {
            id
          }
          avatar(id: $a) {
            id
          }
        }
      `,
      { r: mine.id, a: avatarA },
    );
    expect(seen.data).toEqual({ render: null, avatar: null });
    const cancel = await graphql(
      url(),
      keyB,
      `
        mutation ($id: ID!) {
          cancelRender(id: $id) {
            id
          }
        }
      `,
      {
        id: mine.id,
      },
    );
    expect(cancel.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const borrow = await graphql(
      url(),
      keyB,
      `
        mutation ($input: RenderInput!) {
          createRender(input: $input) {
            id
          }
        }
      `,
      { input: { avatarId: avatarA, audioAssetId: shortAudio } },
    );
    expect(borrow.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    const sub = new Subscription(url(), keyB, RENDER_UPDATED, { id: mine.id, after: 0 });
    await sub.completed.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    expect(sub.events).toEqual([]);
    await sub.close();
    await gql(url(), keyA, `mutation($id: ID!) { cancelRender(id: $id) { id } }`, { id: mine.id });
    await waitForStatus(mine.id, ['CANCELED'], 60_000);
  });

  it('cancels a running render between steps: CANCELED, no output, free', async () => {
    const created = await rendered(longAudio, { steps: 6 });
    const sub = new Subscription(url(), keyA, RENDER_UPDATED, { id: created.id, after: 0 });
    try {
      await sub.waitFor((events) => events.some((e) => e.type === 'render.progress'), 240_000);
      await gql(url(), keyA, `mutation($id: ID!) { cancelRender(id: $id) { id } }`, {
        id: created.id,
      });
      await sub.waitFor(ended, 120_000);
      expect(sub.events.at(-1)?.type).toBe('render.canceled');
      expectGapFree(sub.events);
    } finally {
      await sub.close();
    }
    const render = await getRender(created.id);
    expect(render).toMatchObject({ status: 'CANCELED', output: null });
    expect(render.cost?.amountCents ?? 0).toBe(0);
    expect(await usageRows(created.id)).toBe(0);
  });

  it('kill -9 of the worker mid-render: another worker resumes it; it succeeds, billed once, events complete', async () => {
    const created = await rendered(longAudio, { steps: 4 });
    const sub = new Subscription(url(), keyA, RENDER_UPDATED, { id: created.id, after: 0 });
    try {
      await sub.waitFor((e) => e.some((x) => x.type === 'render.clip-finished'), 240_000);
      await workers[0]!.kill('SIGKILL');
      workers.push(await startWorker(options, 'worker-2'));
      await sub.waitFor(ended, 300_000);
      expectGapFree(sub.events);
      expect(sub.events.filter((e) => FINAL.has(e.type)).map((e) => e.type)).toEqual([
        'render.succeeded',
      ]);
    } finally {
      await sub.close();
    }
    const render = await getRender(created.id);
    expect(render.status).toBe('SUCCEEDED');
    expect(render.output?.frames).toBe(render.frames);
    expect(await usageRows(created.id)).toBe(1);
    // The new worker resumed from a checkpoint rather than starting over.
    expect(workers.at(-1)!.output).toMatch(/"resumedClips":[1-9]/);
  });

  it('Redis restarted empty mid-load: every render still finishes', async () => {
    const ids: string[] = [];
    for (const seed of [11, 12, 13]) ids.push((await rendered(longAudio, { seed, steps: 3 })).id);
    await waitForStatus(ids[0]!, ['RUNNING'], 240_000);
    // Queues, locks, the event stream and the workers' heartbeats all vanish at once.
    await redis.restartEmpty();
    const atRestart = await Promise.all(ids.map(async (id) => (await getRender(id)).status));
    expect(atRestart.filter((s) => s !== 'SUCCEEDED').length).toBeGreaterThanOrEqual(2);
    for (const id of ids) {
      const render = await waitForStatus(id, ['SUCCEEDED', 'FAILED', 'CANCELED'], 300_000);
      expect({ id, status: render.status, error: render.error }).toEqual({
        id,
        status: 'SUCCEEDED',
        error: null,
      });
      expect(await usageRows(id)).toBe(1);
    }
  });

  it('gateway restarted: a subscriber resuming with afterSequence misses nothing', async () => {
    const created = await rendered(longAudio, { steps: 3 });
    const first = new Subscription(url(), keyA, RENDER_UPDATED, { id: created.id, after: 0 });
    await first.waitFor((e) => e.some((x) => x.type === 'render.progress'), 240_000);
    const before = [...first.events];
    await first.close();

    await gateway.proc.kill('SIGTERM');
    gateway = await startGateway(options);

    const last = before.at(-1)!.sequence;
    const resumed = new Subscription(url(), keyA, RENDER_UPDATED, { id: created.id, after: last });
    try {
      await resumed.waitFor(ended, 300_000);
      const all = [...before, ...resumed.events];
      expectGapFree(all);
      expect(all.at(-1)?.type).toBe('render.succeeded');
    } finally {
      await resumed.close();
    }
  });
});
