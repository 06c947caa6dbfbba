import { defineConfig } from 'vite';

// The storefront (web/) is built into dist/web, which the gate serves at `/`.
export default defineConfig({
  root: 'web',
  base: './',
  build: { outDir: '../dist/web', emptyOutDir: true },
  server: { port: 5173 },
});
