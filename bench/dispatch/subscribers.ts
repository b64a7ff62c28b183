// graphql-ws subscribers in a process of their own (forked by run.ts; several of them hold the
// 5,000 sockets): one socket per `renderUpdated(id)` subscription, authenticated with
// connectionParams like the gateway specs, recording the wall-clock moment each progress event
// arrives. Sockets are opened first and subscribed afterwards, so the orchestrator can tell
// what a socket costs the gateway from what a subscription costs.
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { wallMs, type FromSubscribers, type ToSubscribers } from './common';

const RENDER_UPDATED = `subscription($id: ID!) {
  renderUpdated(id: $id) { sequence type render { id progress { step } } } }`;

interface EventData {
  renderUpdated?: { type: string; render: { id: string; progress: { step: number } | null } };
}

const clients: Client[] = [];
let received: Record<string, number[]> = {};
let errors = 0;
let firstError: string | null = null;

function send(message: FromSubscribers): void {
  process.send?.(message);
}

function noteError(error: unknown): void {
  errors++;
  firstError ??=
    error instanceof Error
      ? error.message
      : typeof error === 'object' && error !== null && 'code' in error
        ? `socket closed ${String((error as { code: unknown }).code)} ${String((error as { reason?: unknown }).reason ?? '')}`
        : JSON.stringify(error);
}

/** Opens one socket; resolves true once the gateway acknowledged connection_init. */
function connect(url: string, token: string): Promise<boolean> {
  return new Promise((resolve) => {
    const client = createClient({
      url,
      webSocketImpl: WebSocket,
      lazy: false,
      retryAttempts: 0,
      connectionParams: { authorization: token },
      on: {
        connected: () => resolve(true),
        closed: (event) => {
          noteError(event);
          resolve(false);
        },
        error: (error) => {
          noteError(error);
          resolve(false);
        },
      },
    });
    clients.push(client);
  });
}

/** Subscribes on a socket; resolves true once its first event arrived, false on an error. */
function subscribe(client: Client, renderId: string): Promise<boolean> {
  return new Promise((resolve) => {
    let first = true;
    client.subscribe<EventData>(
      { query: RENDER_UPDATED, variables: { id: renderId } },
      {
        next: (result) => {
          const at = wallMs();
          if (result.errors) noteError(new Error(JSON.stringify(result.errors)));
          const event = result.data?.renderUpdated;
          if (first) {
            first = false;
            resolve(true);
            return; // the replayed latest event
          }
          if (event?.type === 'render.progress' && event.render.progress) {
            const key = `${event.render.id}:${event.render.progress.step}`;
            (received[key] ??= []).push(at);
          }
        },
        error: (error) => {
          noteError(error);
          resolve(false);
        },
        complete: () => resolve(false),
      },
    );
  });
}

/** Runs `task(i)` for i < n, `parallel` at a time, until done or the deadline. */
async function lanes(
  n: number,
  parallel: number,
  timeoutMs: number,
  task: (i: number) => Promise<boolean>,
): Promise<void> {
  const started = wallMs();
  const deadline = Date.now() + timeoutMs;
  let ok = 0;
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n && Date.now() < deadline) {
      if (await task(next++)) ok++;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, parallel) }, lane));
  send({ type: 'done', ok, failed: n - ok, firstError, ms: wallMs() - started });
}

process.on('message', (message: ToSubscribers) => {
  switch (message.type) {
    case 'connect':
      void lanes(message.tokens.length, message.parallel, message.timeoutMs, (i) =>
        connect(message.url, message.tokens[i] ?? ''),
      );
      break;
    case 'subscribe':
      void lanes(message.renderIds.length, message.parallel, message.timeoutMs, async (i) => {
        const client = clients[i];
        return client ? subscribe(client, message.renderIds[i] ?? '') : false;
      });
      break;
    case 'report':
      send({ type: 'report', received, errors, firstError });
      received = {};
      break;
    case 'close':
      void Promise.all(clients.splice(0).map((c) => c.dispose())).finally(() => {
        send({ type: 'closed' });
        process.exit(0);
      });
      break;
  }
});
process.on('disconnect', () => process.exit(0));
