import { generateApiKeySecret } from '@likeness/db';
import { createLogger, lazyChildLogger, PinoNestLogger } from './logger';
import { REDACTED, scrub } from './redact';

/** A pino destination that keeps what it is given, synchronously. */
class Lines {
  text = '';
  write(chunk: string): void {
    this.text += chunk;
  }
  parsed(): Record<string, unknown>[] {
    return this.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

const { secret: apiKey, prefix } = generateApiKeySecret('live');

describe('createLogger', () => {
  it('redacts credentials wherever a record carries them', () => {
    const out = new Lines();
    const log = createLogger('trace', out);
    log.info({ req: { headers: { authorization: `Bearer ${apiKey}`, cookie: 'sid=c00kie' } } });
    log.info({ headers: { Authorization: 'Bearer s3ss10n', 'X-Api-Key': 'k3y' } }, 'headers');
    log.info({ connectionParams: { authorization: 'Bearer ws-t0ken' } }, 'socket');
    log.info({ ctx: { connectionParams: { Authorization: 'ws-t0ken-2' } } }, 'nested socket');
    log.info(
      {
        variables: { input: { email: 'a@b.c', password: 'hunter2' } },
        user: { passwordHash: '$argon2id$v=19$abc', secretHash: 'f00d' },
        created: { secret: 'whsec_123', apiKey: { id: 'k1' } },
        list: [{ token: 't0k' }, { refreshToken: 'r3fresh' }],
        clientSecret: 'cl13nt',
      },
      'bodies',
    );
    log.warn(`a message mentioning ${apiKey} in passing`);
    log.error({ err: new Error(`lookup failed for ${apiKey}`) }, 'failed');
    log.child({ token: 'child-t0ken' }).info('child');

    for (const secret of [
      apiKey,
      'c00kie',
      's3ss10n',
      'k3y',
      'ws-t0ken',
      'ws-t0ken-2',
      'hunter2',
      '$argon2id',
      'f00d',
      'whsec_123',
      't0k',
      'r3fresh',
      'cl13nt',
      'child-t0ken',
    ]) {
      expect(out.text).not.toContain(secret);
    }
    const lines = out.parsed();
    expect(lines).toHaveLength(8);
    expect(out.text).toContain(REDACTED);
    // What is not secret stays readable: the key's public prefix, ids, emails.
    expect(out.text).toContain(`${prefix}_${REDACTED}`);
    expect(out.text).toContain('a@b.c');
    expect(lines[4]).toMatchObject({
      created: { apiKey: REDACTED },
      user: { passwordHash: REDACTED },
    });
    expect(lines[6]?.['err']).toMatchObject({
      type: 'Error',
      message: `lookup failed for ${prefix}_${REDACTED}`,
    });
  });

  it('writes nothing at level silent', () => {
    const out = new Lines();
    const log = createLogger('silent', out);
    log.error('nothing');
    expect(out.text).toBe('');
  });
});

describe('lazyChildLogger', () => {
  it('makes the child only when something logs through it, then always the same one', () => {
    const out = new Lines();
    const parent = createLogger('info', out);
    const child = jest.spyOn(parent, 'child');
    const log = lazyChildLogger(parent, { requestId: 'r-1' }, {});
    // What Fastify checks of a request logger.
    for (const m of ['info', 'error', 'debug', 'fatal', 'warn', 'trace', 'child'] as const) {
      expect(typeof log[m]).toBe('function');
    }
    expect(child).not.toHaveBeenCalled();
    log.info({ n: 1 }, 'first');
    log.warn('second');
    expect(child).toHaveBeenCalledTimes(1);
    expect(out.parsed()).toEqual([
      expect.objectContaining({ level: 30, requestId: 'r-1', n: 1, msg: 'first' }),
      expect.objectContaining({ level: 40, requestId: 'r-1', msg: 'second' }),
    ]);
    expect(Object.keys(out.parsed()[0] ?? {})).toEqual([
      'level',
      'time',
      'service',
      'pid',
      'requestId',
      'n',
      'msg',
    ]);
  });

  it('answers as the child would, redaction included', () => {
    const out = new Lines();
    const parent = createLogger('info', out);
    const log = lazyChildLogger(parent, { requestId: 'r-2', authorization: 'Bearer s3cret' }, {});
    expect(log.level).toBe('info');
    expect(log.isLevelEnabled('debug')).toBe(false);
    expect(log.bindings()).toMatchObject({ requestId: 'r-2', authorization: REDACTED });
    log.child({ step: 'inner' }).error('deeper');
    expect(out.parsed()).toEqual([
      expect.objectContaining({ requestId: 'r-2', step: 'inner', authorization: REDACTED }),
    ]);
    expect(out.text).not.toContain('s3cret');
  });
});

describe('scrub', () => {
  it('leaves class instances to their serializers and survives cycles', () => {
    class Thing {
      password = 'kept-for-serializer';
    }
    const thing = new Thing();
    const cyclic: Record<string, unknown> = { name: 'c' };
    cyclic['self'] = cyclic;
    const out = scrub({ thing, cyclic, n: 1, when: null }) as Record<string, unknown>;
    expect(out['thing']).toBe(thing);
    expect((out['cyclic'] as Record<string, unknown>)['name']).toBe('c');
    expect(out['n']).toBe(1);
  });
});

describe('PinoNestLogger', () => {
  it('writes Nest log calls as JSON with their context, scrubbed', () => {
    const out = new Lines();
    const nest = new PinoNestLogger(createLogger('debug', out));
    nest.log('Mapped route', 'RoutesResolver');
    nest.error(`boom ${apiKey}`, `Error: boom\n    at ${apiKey}`, 'GraphQL');
    nest.warn({ detail: 'x', token: 'nest-t0ken' }, 'Auth');
    nest.verbose('too chatty');
    const lines = out.parsed();
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({ level: 30, context: 'RoutesResolver', msg: 'Mapped route' });
    expect(lines[1]).toMatchObject({ level: 50, context: 'GraphQL' });
    expect(lines[1]?.['stack']).toContain('Error: boom');
    expect(lines[2]).toMatchObject({
      level: 40,
      context: 'Auth',
      data: { detail: 'x', token: REDACTED },
    });
    expect(out.text).not.toContain(apiKey);
    expect(out.text).not.toContain('nest-t0ken');
  });
});
