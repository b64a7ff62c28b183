// The one module that constructs Prisma clients (Prisma 7, driver adapter, no engine binary).
import { PrismaPg } from '@prisma/adapter-pg';
import { Pool } from 'pg';
import { Prisma, PrismaClient } from './generated/client';

export { Prisma, PrismaClient };
export type TransactionClient = Prisma.TransactionClient;

export interface PooledClient {
  prisma: PrismaClient;
  pool: Pool;
  close(): Promise<void>;
}

export function createPooledClient(connectionString: string, max: number): PooledClient {
  const pool = new Pool({
    connectionString,
    max,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 10_000,
  });
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  const prisma = new PrismaClient({
    adapter: new PrismaPg(pool),
    transactionOptions: { maxWait: 15_000, timeout: 30_000 },
  });
  let closed = false;
  return {
    prisma,
    pool,
    async close() {
      if (closed) return;
      closed = true;
      await prisma.$disconnect();
      await pool.end();
    },
  };
}
