import { defineConfig, type Plugin } from 'vite';
import { resolve } from 'node:path';

/**
 * Dev/preview only: mimic the Weft server's routing so `npm run dev` works:
 * `/code/*` -> code.html, other unknown paths -> index.html (Vite's SPA fallback).
 */
function weftRoutes(): Plugin {
  const rewrite = (req: { url?: string }) => {
    if (req.url && /^\/code(\/|$)/.test(req.url)) req.url = '/code.html';
  };
  return {
    name: 'weft-routes',
    configureServer(server) {
      server.middlewares.use((req, _res, next) => {
        rewrite(req);
        next();
      });
    },
    configurePreviewServer(server) {
      server.middlewares.use((req, _res, next) => {
        rewrite(req);
        next();
      });
    },
  };
}

export default defineConfig({
  base: '/',
  plugins: [weftRoutes()],
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    target: 'es2020',
    sourcemap: false,
    rollupOptions: {
      input: {
        index: resolve(__dirname, 'index.html'),
        code: resolve(__dirname, 'code.html'),
      },
    },
  },
});
