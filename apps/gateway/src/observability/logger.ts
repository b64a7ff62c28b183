import type { IncomingMessage } from 'node:http';
import type { LoggerService } from '@nestjs/common';
import {
  pino,
  stdSerializers,
  type Bindings,
  type ChildLoggerOptions,
  type DestinationStream,
  type Logger,
} from 'pino';
import type { AppConfig } from '../config/config';
import { REDACTED, scrub, scrubString } from './redact';

export type GatewayLogger = Logger;

const CHILD_BINDING_SECRETS = [
  'authorization',
  'cookie',
  'password',
  'secret',
  'token',
  'apiKey',
  'accessToken',
  'refreshToken',
  'sessionToken',
  'clientSecret',
];

/**
 * The gateway's one logger: pino JSON lines (to stdout unless a destination is given, as tests
 * do), with every record passed through `scrub` and the usual credential paths redacted.
 */
export function createLogger(
  level: AppConfig['logLevel'],
  destination?: DestinationStream,
): GatewayLogger {
  const options = {
    level,
    base: { service: 'gateway', pid: process.pid },
    messageKey: 'msg',
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'res.headers["set-cookie"]',
        'headers.authorization',
        'headers.cookie',
        'connectionParams.authorization',
        '*.connectionParams.authorization',
        // Top-level names also cover child-logger bindings, which the formatter does not see.
        ...CHILD_BINDING_SECRETS,
      ],
      censor: REDACTED,
    },
    serializers: {
      // `scrub` has already turned errors into plain objects; anything else gets pino's default.
      err: (err: unknown) => (err instanceof Error ? stdSerializers.err(err) : err),
      // Path only: query strings may carry signed-URL signatures or a GET GraphQL document.
      req: (req: IncomingMessage & { id?: string }) => ({
        method: req.method,
        url: pathOf(req.url),
      }),
    },
    formatters: {
      bindings: (bindings: Record<string, unknown>) => scrub(bindings) as Record<string, unknown>,
      log: (record: Record<string, unknown>) => scrub(record) as Record<string, unknown>,
    },
    hooks: {
      logMethod(this: Logger, args: unknown[], method: (...a: unknown[]) => void): void {
        const clean = args.some((a) => typeof a === 'string' && a.includes('lk_'))
          ? args.map((a) => (typeof a === 'string' ? scrubString(a) : a))
          : args;
        method.apply(this, clean);
      },
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** What Fastify checks a request logger for, and calls: usable before the child exists. */
const LOG_METHODS = new Set([
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
  'child',
]);

/**
 * Fastify's `childLoggerFactory`: `request.log` stands in for the pino child (the request id as
 * a binding) and makes it only when something logs through it, which most requests never do —
 * their access-log line goes through the root logger (registerHttpObservability). Making a
 * child costs about as much as writing a line (its bindings are redacted), on every request.
 */
export function lazyChildLogger<
  L extends object & { child(b: Bindings, o?: ChildLoggerOptions): L },
>(parent: L, bindings: Bindings, options: ChildLoggerOptions): L {
  let child: L | undefined;
  const real = (): L => (child ??= parent.child(bindings, options));
  return new Proxy(parent, {
    get(_target, property) {
      if (child === undefined && typeof property === 'string' && LOG_METHODS.has(property)) {
        return (...args: unknown[]) =>
          (real() as unknown as Record<string, (...a: unknown[]) => unknown>)[property]?.(...args);
      }
      const logger = real();
      const value: unknown = Reflect.get(logger, property, logger);
      return typeof value === 'function' ? value.bind(logger) : value;
    },
    set: (_target, property, value) => Reflect.set(real(), property, value),
    has: (_target, property) => Reflect.has(real(), property),
  });
}

export function pathOf(url: string | undefined): string | undefined {
  return url?.split('?', 1)[0];
}

type NestLevel = 'info' | 'error' | 'warn' | 'debug' | 'trace' | 'fatal';

/** Nest's own logging (bootstrap, `new Logger(...)` in modules) through the pino logger. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: GatewayLogger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  private write(level: NestLevel, message: unknown, params: unknown[]): void {
    if (!this.logger.isLevelEnabled(level)) return;
    // Nest passes the context last, and for errors the stack before it.
    const rest = [...params];
    const context = rest.length > 0 && typeof rest.at(-1) === 'string' ? rest.pop() : undefined;
    const fields: Record<string, unknown> = context ? { context } : {};
    if (level === 'error' && typeof rest[0] === 'string') fields['stack'] = rest.shift();
    if (rest.length > 0) fields['details'] = rest;
    if (message instanceof Error) {
      this.logger[level]({ ...fields, err: message }, message.message);
    } else if (typeof message === 'object' && message !== null) {
      this.logger[level]({ ...fields, data: message });
    } else {
      this.logger[level](fields, String(message));
    }
  }
}
