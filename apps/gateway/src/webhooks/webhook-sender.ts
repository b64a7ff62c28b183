import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import {
  addressAllowed,
  bareHost,
  BlockedAddressError,
  checkedLookup,
  type AddressPolicy,
} from './address-policy';

/** What one POST did; `status` null when no response arrived. */
export interface SendResult {
  startedAt: Date;
  durationMs: number;
  status: number | null;
  /** Null for a 2xx; otherwise why the attempt failed, in a line. */
  error: string | null;
}

/** At most this much of a response body is read (and thrown away); the rest is not waited for. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * POSTs webhook bodies with node:http(s): redirects are never followed (a 3xx is a failure),
 * one deadline covers connecting, the answer and its body, and every connection goes through
 * the address policy (IP literals before connecting, names through `checkedLookup`).
 * Keep-alive agents reuse connections to busy endpoints.
 */
export class WebhookSender {
  private readonly lookup;
  private readonly agents = {
    http: new http.Agent({ keepAlive: true, maxSockets: 50 }),
    https: new https.Agent({ keepAlive: true, maxSockets: 50 }),
  };

  constructor(
    private readonly policy: AddressPolicy,
    private readonly timeoutMs: number,
  ) {
    this.lookup = checkedLookup(policy);
  }

  async post(rawUrl: string, headers: Record<string, string>, body: string): Promise<SendResult> {
    const startedAt = new Date();
    const started = performance.now();
    const done = (status: number | null, error: string | null): SendResult => ({
      startedAt,
      durationMs: Math.round(performance.now() - started),
      status,
      error,
    });
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      return done(null, 'invalid URL');
    }
    const host = bareHost(url.hostname);
    if (isIP(host) !== 0 && !addressAllowed(this.policy, host, host)) {
      return done(null, new BlockedAddressError(host, host).message);
    }
    const secure = url.protocol === 'https:';
    const payload = Buffer.from(body, 'utf8');
    return new Promise<SendResult>((resolve) => {
      let settled = false;
      const finish = (status: number | null, error: string | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(done(status, error));
      };
      const request = (secure ? https : http).request(url, {
        method: 'POST',
        agent: secure ? this.agents.https : this.agents.http,
        lookup: this.lookup,
        headers: { ...headers, 'content-length': String(payload.length) },
      });
      const timer = setTimeout(() => {
        finish(null, `timed out after ${this.timeoutMs} ms`);
        request.destroy();
      }, this.timeoutMs);
      request.on('error', (err: NodeJS.ErrnoException) => finish(null, describe(err)));
      request.on('response', (response) => {
        const status = response.statusCode ?? 0;
        const error =
          status >= 200 && status < 300
            ? null
            : status >= 300 && status < 400
              ? `HTTP ${status} (redirects are not followed${response.headers.location ? `: ${String(response.headers.location).slice(0, 200)}` : ''})`
              : `HTTP ${status}`;
        let read = 0;
        response.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_RESPONSE_BYTES) {
            finish(status, error);
            response.destroy();
          }
        });
        response.on('end', () => finish(status, error));
        response.on('error', () => finish(status, error));
        response.on('close', () => finish(status, error));
      });
      request.end(payload);
    });
  }

  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}

function describe(err: NodeJS.ErrnoException): string {
  if (err instanceof BlockedAddressError) return err.message;
  const code = err.code ? ` (${err.code})` : '';
  return `${err.message || 'connection failed'}${code}`.slice(0, 500);
}
