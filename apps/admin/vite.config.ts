import { resolve } from 'node:path';
import { defineConfig } from 'vite';

// Served by the gateway at /admin in production; `nx run admin:serve` proxies the API to a local gateway.
export default defineConfig({
  root: __dirname,
  base: '/admin/',
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir: resolve(__dirname, '../../dist/apps/admin'),
    emptyOutDir: true,
  },
  server: {
    proxy: { '/graphql': process.env['LIKENESS_API_URL'] ?? 'http://localhost:4000' },
  },
});
