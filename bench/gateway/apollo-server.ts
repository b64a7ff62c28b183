// The baseline: a bare @apollo/server (startStandaloneServer) answering `{ viewer { kind } }`
// with a constant, in its own process. Tells the parent its port over IPC; stops on SIGTERM.
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';

async function main(): Promise<void> {
  const server = new ApolloServer({
    typeDefs: 'type Viewer { kind: String! } type Query { viewer: Viewer! }',
    resolvers: { Query: { viewer: () => ({ kind: 'API_KEY' }) } },
  });
  const { url } = await startStandaloneServer(server, { listen: { port: 0, host: '127.0.0.1' } });
  process.on('SIGTERM', () => {
    server.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
  process.send?.({ port: Number(new URL(url).port) });
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
