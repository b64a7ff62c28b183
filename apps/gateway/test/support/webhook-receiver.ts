// A partner's webhook receiver for the gateway's specs: node:http on an ephemeral loopback port
// that records every request (raw body, headers, arrival time) and answers as a test scripts it.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  path: string;
  method: string;
  headers: IncomingHttpHeaders;
  /** The raw body, exactly as sent (what a signature is checked against). */
  body: string;
  /** Date.now() when the request had arrived completely. */
  at: number;
}

/** How to answer the n-th request (0-based) of a path: a status, optionally late. */
export type Answer = { status: number; delayMs?: number; headers?: Record<string, string> };
export type Script = (n: number, request: ReceivedWebhook) => Answer;

export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  private readonly scripts = new Map<string, Script>();
  private server: Server | undefined;
  private port = 0;

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = (req.url ?? '/').split('?')[0] ?? '/';
        const request: ReceivedWebhook = {
          path,
          method: req.method ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          at: Date.now(),
        };
        const n = this.received.filter((r) => r.path === path).length;
        this.received.push(request);
        const script: Script = this.scripts.get(path) ?? (() => ({ status: 200 }));
        const answer = script(n, request);
        const send = (): void => {
          if (!res.destroyed) res.writeHead(answer.status, answer.headers).end('ok');
        };
        if (answer.delayMs) setTimeout(send, answer.delayMs).unref();
        else send();
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** The URL of `path` on this receiver; `script` decides the answers (default: 200). */
  url(path: string, script?: Script): string {
    if (script) this.scripts.set(path, script);
    return `http://127.0.0.1:${this.port}${path}`;
  }

  at(path: string): ReceivedWebhook[] {
    return this.received.filter((r) => r.path === path);
  }

  /** Waits until `path` has had `count` requests. */
  async waitFor(path: string, count: number, withinMs = 10_000): Promise<ReceivedWebhook[]> {
    const deadline = Date.now() + withinMs;
    while (this.at(path).length < count) {
      if (Date.now() > deadline) {
        throw new Error(
          `receiver: ${path} got ${this.at(path).length} of ${count} requests in ${withinMs} ms`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return this.at(path);
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}
