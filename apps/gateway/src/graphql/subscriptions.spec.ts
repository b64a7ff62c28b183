import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { IncomingMessage } from 'node:http';
import { buildSchema, GraphQLError, parse, print } from 'graphql';
import {
  graphqlContext,
  releaseUpgradeRequest,
  subscriptionDocumentsOf,
  subscriptionTransport,
  SubscriptionDocuments,
  type GraphqlWsExtra,
} from './subscriptions';

const v1 = buildSchema(
  'type Query { ok: Boolean } type Subscription { tick: Tick! } type Tick { n: Int! at: String }',
);
// The same API after a release that dropped Tick.at.
const v2 = buildSchema(
  'type Query { ok: Boolean } type Subscription { tick: Tick! } type Tick { n: Int! }',
);

const TICK = 'subscription { tick { n at } }';

/** What graphql-ws does with a subscribe message's query: parse, then validate. */
function graphqlWsOperation(documents: SubscriptionDocuments, schema = v1, query = TICK) {
  const document = documents.parse(query);
  return { document, errors: documents.validate(schema, document) };
}

describe('SubscriptionDocuments', () => {
  it('hands every later subscription with the same query text the same validated document', () => {
    const documents = new SubscriptionDocuments();
    const first = graphqlWsOperation(documents);
    expect(first.errors).toEqual([]);
    expect(print(first.document)).toBe(print(parse(TICK)));
    const second = graphqlWsOperation(documents);
    expect(second.document).toBe(first.document);
    expect(second.errors).toEqual([]);
    expect(documents.counts).toEqual({ parsed: 1, shared: 1 });
    // Another text is another document.
    const other = graphqlWsOperation(documents, v1, 'subscription { tick { n } }');
    expect(other.document).not.toBe(first.document);
    expect(documents.size).toBe(2);
  });

  it('never keeps a document that fails validation, and reports its errors every time', () => {
    const documents = new SubscriptionDocuments();
    const query = 'subscription { tick { nope } }';
    const first = graphqlWsOperation(documents, v1, query);
    const second = graphqlWsOperation(documents, v1, query);
    expect(second.document).not.toBe(first.document);
    for (const { errors } of [first, second]) {
      expect(errors.map((e) => e.message)).toEqual(['Cannot query field "nope" on type "Tick".']);
    }
    expect(documents.size).toBe(0);
    expect(documents.counts).toEqual({ parsed: 2, shared: 0 });
  });

  it('throws graphql-js syntax errors as a fresh parse does', () => {
    const documents = new SubscriptionDocuments();
    expect(() => documents.parse('subscription { tick { n }')).toThrow(GraphQLError);
    expect(() => documents.parse('subscription { tick { n }')).toThrow(/Syntax Error/);
    expect(documents.size).toBe(0);
  });

  it('validates a shared document again against another schema', () => {
    const documents = new SubscriptionDocuments();
    const first = graphqlWsOperation(documents, v1);
    expect(first.errors).toEqual([]);
    // Shared by text, but v2 has no Tick.at: the errors are v2's.
    const onV2 = graphqlWsOperation(documents, v2);
    expect(onV2.document).toBe(first.document);
    expect(onV2.errors.map((e) => e.message)).toEqual(['Cannot query field "at" on type "Tick".']);
    expect(graphqlWsOperation(documents, v2).errors).toHaveLength(1);
    expect(graphqlWsOperation(documents, v1).errors).toEqual([]);
  });

  it('forgets the least recently used document beyond its bound', () => {
    const documents = new SubscriptionDocuments({ maxEntries: 2, maxSizeChars: 1_000_000 });
    const a = graphqlWsOperation(documents, v1, 'subscription { a: tick { n } }').document;
    graphqlWsOperation(documents, v1, 'subscription { b: tick { n } }');
    graphqlWsOperation(documents, v1, 'subscription { c: tick { n } }');
    expect(documents.size).toBe(2);
    expect(graphqlWsOperation(documents, v1, 'subscription { a: tick { n } }').document).not.toBe(
      a,
    );
  });

  it('is found from the transport options Nest hands on', () => {
    const documents = new SubscriptionDocuments();
    const transport = subscriptionTransport((e) => e.toJSON(), documents);
    expect(subscriptionDocumentsOf(transport)).toBe(documents);
    expect(subscriptionDocumentsOf({ ...transport })).toBe(documents);
    expect(subscriptionDocumentsOf(undefined)).toBeNull();
    expect(subscriptionDocumentsOf({ 'graphql-ws': true })).toBeNull();
  });
});

describe('graphql-ws connection', () => {
  function upgradeRequest(remoteAddress: string): IncomingMessage {
    return {
      socket: { remoteAddress },
      headers: { 'sec-websocket-protocol': 'graphql-transport-ws' },
    } as unknown as IncomingMessage;
  }

  function onConnect(ctx: { connectionParams?: Record<string, unknown>; extra: GraphqlWsExtra }) {
    const transport = subscriptionTransport((e) => e.toJSON()) as {
      'graphql-ws': { onConnect: (c: typeof ctx) => boolean };
    };
    return transport['graphql-ws'].onConnect(ctx);
  }

  it('keeps only the client address of an acknowledged socket, which every context still gets', () => {
    const extra: GraphqlWsExtra = { request: upgradeRequest('10.1.2.3') };
    const ctx = { connectionParams: { authorization: 'lk_test_x' }, extra };
    expect(onConnect(ctx)).toBe(true);
    expect(extra.request).toBeUndefined();
    expect(extra.clientAddress).toBe('10.1.2.3');
    const { req } = graphqlContext(ctx);
    expect(req.ip).toBe('10.1.2.3');
    expect(req.headers).toEqual({ authorization: 'Bearer lk_test_x' });
    // A fresh request id per operation.
    expect(req.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(graphqlContext(ctx).req.id).not.toBe(req.id);
  });

  it('refuses a socket without credentials (and then has no reason to let go of anything)', () => {
    const request = upgradeRequest('10.1.2.3');
    const extra: GraphqlWsExtra = { request };
    expect(onConnect({ connectionParams: { authorization: '  ' }, extra })).toBe(false);
    expect(onConnect({ extra })).toBe(false);
    expect(extra.request).toBe(request);
  });

  it('reads the address from the request while it is still there', () => {
    const ctx = { extra: { request: upgradeRequest('10.9.9.9') } };
    expect(graphqlContext(ctx).req.ip).toBe('10.9.9.9');
  });

  it('leaves the request to the garbage collector once released', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const extra: GraphqlWsExtra = {};
    const ref = ((): WeakRef<IncomingMessage> => {
      const request = upgradeRequest('10.4.4.4');
      extra.request = request;
      return new WeakRef(request);
    })();
    const collected = async (): Promise<boolean> => {
      await new Promise((resolve) => setImmediate(resolve));
      gc();
      return ref.deref() === undefined;
    };
    expect(await collected()).toBe(false); // still held by `extra`
    releaseUpgradeRequest(extra);
    expect(await collected()).toBe(true);
    expect(extra.clientAddress).toBe('10.4.4.4');
  });
});
