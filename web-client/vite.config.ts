import { defineConfig, type Plugin } from 'vite';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

/** One HTML entry per page; `/{page}/...` is served `{page}.html` (index.html serves `/` and `/d/...`). */
const PAGES = ['index', 'code', 'monaco', 'quill', 'data'];

/**
 * Dev/preview only: mimic the Weft server's routing so `npm run dev` works:
 * `/{page}/...` -> `{page}.html` when that file exists, other unknown paths -> index.html
 * (Vite's SPA fallback).
 */
function weftRoutes(): Plugin {
  const rewrite = (dir: string) => (req: { url?: string }) => {
    const m = req.url?.match(/^\/([A-Za-z0-9_-]+)(\/|\?|$)/);
    if (m && m[1] !== 'index' && existsSync(resolve(dir, `${m[1]}.html`))) req.url = `/${m[1]}.html`;
  };
  return {
    name: 'weft-routes',
    configureServer(server) {
      const r = rewrite(server.config.root);
      server.middlewares.use((req, _res, next) => {
        r(req);
        next();
      });
    },
    configurePreviewServer(server) {
      const r = rewrite(resolve(server.config.root, server.config.build.outDir));
      server.middlewares.use((req, _res, next) => {
        r(req);
        next();
      });
    },
  };
}

export default defineConfig({
  base: '/',
  plugins: [weftRoutes()],
  resolve: {
    alias: [
      // y-monaco imports `monaco-editor/esm/vs/editor/editor.api.js`, a path monaco-editor >= 0.56
      // no longer exports (its exports map `./*` to `./esm/vs/*`): point it at the same module.
      { find: /^monaco-editor\/esm\/vs\/(.*)$/, replacement: 'monaco-editor/$1' },
    ],
  },
  worker: { format: 'es' },
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    target: 'es2020',
    sourcemap: false,
    // Monaco's editor core alone is ~2.7 MB (700 kB gzip) and only loads on /monaco/...
    chunkSizeWarningLimit: 3200,
    rollupOptions: {
      input: Object.fromEntries(PAGES.map((p) => [p, resolve(__dirname, `${p}.html`)])),
    },
  },
});
