#!/usr/bin/env node
// Small probes for scripts/services.sh, written against the same drivers the platform uses
// (pg, ioredis), so they need no client binaries. Exit 0 = yes, 1 = no, 2 = usage.
//
//   probe.cjs pg <url>             the server answers `SELECT 1`
//   probe.cjs pg-vector <url>      the pgvector extension is available on that server
//   probe.cjs pg-ensure-db <url>   create the database named in <url> when it is missing
//   probe.cjs redis <url>          the server answers PING
'use strict';
const { Client } = require('pg');

const TIMEOUT_MS = Number(process.env.LIKENESS_PROBE_TIMEOUT_MS || 2000);

async function withPg(url, fn) {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: TIMEOUT_MS });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function databaseOf(url) {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`unexpected database name in URL: "${name}"`);
  return name;
}

function withDatabase(url, name) {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

const probes = {
  async pg(url) {
    return withPg(url, async (c) => (await c.query('SELECT 1 AS ok')).rows[0].ok === 1);
  },
  async 'pg-vector'(url) {
    return withPg(url, async (c) => {
      const r = await c.query("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'");
      return r.rowCount === 1;
    });
  },
  async 'pg-ensure-db'(url) {
    const name = databaseOf(url);
    return withPg(withDatabase(url, 'postgres'), async (c) => {
      const r = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (r.rowCount === 0) {
        await c.query(`CREATE DATABASE "${name}"`).catch((e) => {
          if (e.code !== '42P04') throw e; // created concurrently
        });
        process.stderr.write(`services: created database ${name}\n`);
      }
      return true;
    });
  },
  async redis(url) {
    const Redis = require('ioredis').default || require('ioredis');
    const redis = new Redis(url, {
      lazyConnect: true,
      connectTimeout: TIMEOUT_MS,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableOfflineQueue: false,
    });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      return (await redis.ping()) === 'PONG';
    } finally {
      redis.disconnect();
    }
  },
};

async function main() {
  const [what, url] = process.argv.slice(2);
  const probe = probes[what];
  if (!probe || !url) {
    process.stderr.write(`usage: probe.cjs ${Object.keys(probes).join('|')} <url>\n`);
    process.exit(2);
  }
  try {
    process.exit((await probe(url)) ? 0 : 1);
  } catch (e) {
    if (process.env.LIKENESS_PROBE_VERBOSE) process.stderr.write(`probe ${what}: ${e.message}\n`);
    process.exit(1);
  }
}

void main();
