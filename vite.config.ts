import { defineConfig } from 'vite';

// The storefront (web/index.html) and the sale console (web/console.html) are built into
// dist/web, which the gate serves: the storefront at `/`, the console at `/console`.
export default defineConfig({
  root: 'web',
  base: './',
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    rollupOptions: { input: { storefront: 'web/index.html', console: 'web/console.html' } },
  },
  server: { port: 5173 },
});
