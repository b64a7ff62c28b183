import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebhookSender } from './webhook-sender';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

let server: Server;
let port: number;
let handler: Handler;
const seen: { url: string; body: string; headers: IncomingMessage['headers'] }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ url: req.url ?? '', body, headers: req.headers });
      handler(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  seen.length = 0;
});

const open = { allowHttpLoopback: true, blockPrivateAddresses: false };

describe('WebhookSender', () => {
  it('POSTs the body with the given headers and reports a 2xx as success', async () => {
    handler = (_req, res) => res.writeHead(204).end();
    const sender = new WebhookSender(open, 2000);
    try {
      const result = await sender.post(
        `http://127.0.0.1:${port}/hook?x=1`,
        { 'content-type': 'application/json', 'likeness-event': 'test.ping' },
        '{"a":"ü"}',
      );
      expect(result).toMatchObject({ status: 204, error: null });
      expect(result.durationMs).toBeGreaterThanOrEqual(0);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({ url: '/hook?x=1', body: '{"a":"ü"}' });
      expect(seen[0]?.headers['likeness-event']).toBe('test.ping');
      expect(seen[0]?.headers['content-length']).toBe(String(Buffer.byteLength('{"a":"ü"}')));
    } finally {
      sender.close();
    }
  });

  it('does not follow redirects', async () => {
    handler = (req, res) => {
      if (req.url === '/hook') res.writeHead(302, { location: '/elsewhere' }).end();
      else res.writeHead(200).end();
    };
    const sender = new WebhookSender(open, 2000);
    try {
      const result = await sender.post(`http://127.0.0.1:${port}/hook`, {}, '{}');
      expect(result.status).toBe(302);
      expect(result.error).toMatch(/redirects are not followed: \/elsewhere/);
      expect(seen.map((s) => s.url)).toEqual(['/hook']);
    } finally {
      sender.close();
    }
  });

  it('gives up at the deadline, even while the answer is still coming', async () => {
    handler = (_req, res) => {
      res.writeHead(200);
      res.write('partial');
      setTimeout(() => res.end(), 2000).unref();
    };
    const sender = new WebhookSender(open, 300);
    try {
      const started = Date.now();
      const result = await sender.post(`http://127.0.0.1:${port}/slow`, {}, '{}');
      expect(Date.now() - started).toBeLessThan(1500);
      // Headers arrived but the body did not finish: the attempt counts as timed out.
      expect(result.error).toBe('timed out after 300 ms');
    } finally {
      sender.close();
    }
  });

  it('reports non-2xx answers and connection failures as errors', async () => {
    handler = (_req, res) => res.writeHead(503).end('busy');
    const sender = new WebhookSender(open, 2000);
    try {
      expect(await sender.post(`http://127.0.0.1:${port}/`, {}, '{}')).toMatchObject({
        status: 503,
        error: 'HTTP 503',
      });
      const closed = await sender.post('http://127.0.0.1:1/', {}, '{}');
      expect(closed.status).toBeNull();
      expect(closed.error).toMatch(/ECONNREFUSED/);
    } finally {
      sender.close();
    }
  });

  it('refuses private targets when they are blocked: IP literals before connecting, names after DNS', async () => {
    handler = (_req, res) => res.writeHead(200).end();
    const sender = new WebhookSender(
      { allowHttpLoopback: false, blockPrivateAddresses: true },
      2000,
    );
    try {
      const literal = await sender.post(`http://127.0.0.1:${port}/`, {}, '{}');
      expect(literal.error).toMatch(/refused to connect to 127\.0\.0\.1: not a public address/);
      const named = await sender.post(`http://localhost:${port}/`, {}, '{}');
      expect(named.error).toMatch(/refused to connect to (127\.0\.0\.1|::1) \(localhost\)/);
      expect(seen).toHaveLength(0);
    } finally {
      sender.close();
    }
    // The loopback exemption is for loopback names only, and only with the flag.
    const loopback = new WebhookSender(
      { allowHttpLoopback: true, blockPrivateAddresses: true },
      2000,
    );
    try {
      expect((await loopback.post(`http://localhost:${port}/`, {}, '{}')).status).toBe(200);
    } finally {
      loopback.close();
    }
  });
});
