// Test harness: starts a backend (the real Weft binary by default, or the
// reference Node y-websocket server plus a static file server) and a headless
// Debian Chromium through playwright-core.
//
// Env:
//   WEFT_E2E_SERVER  weft (default) | reference
//   WEFT_BIN         Weft binary (default: ../target/debug/weft from web-client/)
//   WEFT_REFERENCE_SH  reference server script (default: /work/shared/bench/reference-server.sh)
//   CHROMIUM_BIN     default /usr/bin/chromium
//   E2E_HEADFUL=1    show the browser (needs a display)
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { chromium } from 'playwright-core';

export const WEB_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DIST = join(WEB_DIR, 'dist');
export const ARTIFACTS = join(WEB_DIR, 'e2e', 'artifacts');
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];

export function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

export async function waitFor(fn, { timeout = 20000, interval = 50, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

async function waitHttp(url, timeout = 20000) {
  await waitFor(async () => {
    const r = await fetch(url);
    return r.status === 200;
  }, { timeout, what: url });
}

function assertBuilt() {
  if (!['index', 'code', 'monaco', 'quill', 'data'].every((p) => existsSync(join(DIST, `${p}.html`)))) {
    throw new Error(`web-client/dist is not built: run \`npm run build\` first (looked in ${DIST})`);
  }
}

/** The real server; `args` go to `weft serve` after the harness's own (e.g. `--auth-secret`). */
async function startWeft(args = []) {
  const bin = resolve(WEB_DIR, process.env.WEFT_BIN || '../target/debug/weft');
  if (!existsSync(bin)) {
    throw new Error(`Weft binary not found at ${bin}: build it (\`cargo build -p weft-server\` in the repo root), set WEFT_BIN, or run with WEFT_E2E_SERVER=reference`);
  }
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'weft-e2e-'));
  const base = `http://127.0.0.1:${port}`;
  let log = '';
  let child;
  let exited = null;
  const spawnWeft = async () => {
    exited = null;
    child = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--web-dir', DIST, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
    });
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    const me = child;
    me.on('exit', (code, sig) => { if (child === me) exited = { code, sig }; });
    try {
      await waitFor(async () => {
        if (exited) throw new Error(`weft exited early (${JSON.stringify(exited)}): ${log.slice(-2000)}`);
        const r = await fetch(`${base}/healthz`);
        return r.status === 200;
      }, { timeout: 30000, what: `${base}/healthz` });
    } catch (e) {
      me.kill('SIGKILL');
      throw e;
    }
  };
  const kill = async (signal = 'SIGTERM') => {
    if (exited || !child) return;
    const done = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await done;
    clearTimeout(t);
  };
  await spawnWeft();
  return {
    kind: 'weft',
    bin,
    base,
    /** Query string additions every page needs (none: same origin). */
    query: {},
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    log: () => log,
    /** Stop the server (signal: SIGTERM or SIGKILL) and start it again on the same port and data. */
    async restart(signal = 'SIGTERM', { downMs = 0 } = {}) {
      await kill(signal);
      if (downMs) await new Promise((r) => setTimeout(r, downMs));
      await spawnWeft();
    },
    async stop() {
      await kill();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const MIME = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json', '.woff2': 'font/woff2', '.map': 'application/json',
};

/** A static server with the same routing rules the Weft server applies to web-client/dist. */
export function startStatic(root = DIST) {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    let file = join(root, path);
    if (!file.startsWith(root)) {
      res.writeHead(400).end();
      return;
    }
    const isFile = existsSync(file) && statSync(file).isFile();
    if (!isFile) {
      if (path.startsWith('/assets/')) {
        res.writeHead(404).end('not found');
        return;
      }
      // `/{page}/...` -> `{page}.html` when the build has it (as the Weft server does), else index.html.
      const page = path.match(/^\/([A-Za-z0-9_-]+)(\/|$)/)?.[1];
      const own = page && page !== 'index' ? join(root, `${page}.html`) : null;
      file = own && existsSync(own) ? own : join(root, 'index.html');
    }
    res.writeHead(200, { 'content-type': MIME[extname(file)] || 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  return new Promise((res) => {
    server.listen(0, '127.0.0.1', () => res({ server, port: server.address().port }));
  });
}

/** The reference Node y-websocket server (ws://127.0.0.1:PORT/{room}) plus the static server. */
async function startReference() {
  const sh = process.env.WEFT_REFERENCE_SH || '/work/shared/bench/reference-server.sh';
  const port = await freePort();
  const pid = execFileSync('sh', [sh, 'start', String(port)], { encoding: 'utf8' }).trim().split('\n').pop();
  const { server, port: webPort } = await startStatic();
  const base = `http://127.0.0.1:${webPort}`;
  await waitHttp(`${base}/`);
  const wsUrl = `ws://127.0.0.1:${port}`;
  return {
    kind: 'reference',
    base,
    query: { server: wsUrl },
    wsUrl,
    pid,
    log: () => '',
    async stop() {
      execFileSync('sh', [sh, 'stop', String(port)]);
      await new Promise((r) => server.close(r));
    },
  };
}

/** `weftArgs`: extra `weft serve` flags (ignored by the reference backend). */
export async function startBackend({ weftArgs = [] } = {}) {
  assertBuilt();
  const which = process.env.WEFT_E2E_SERVER || 'weft';
  if (which === 'weft') return startWeft(weftArgs);
  if (which === 'reference') return startReference();
  throw new Error(`WEFT_E2E_SERVER must be weft or reference, not ${which}`);
}

/** Why the document API tests cannot run on this backend (null: they can). */
export async function documentApiMissing(backend) {
  if (backend.kind !== 'weft') return `the ${backend.kind} backend has no document API`;
  const r = await fetch(`${backend.base}/api/v1/openapi.json`).catch(() => null);
  return !r || r.status !== 200 ? 'this Weft binary has no /api/v1 document API' : null;
}

export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
  if (!existsSync(executablePath)) throw new Error(`Chromium not found at ${executablePath} (apt-get install -y chromium)`);
  return chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: !process.env.E2E_HEADFUL });
}

/** Build a page URL on the backend, adding the backend's own query (e.g. ?server=). */
export function pageUrl(backend, path, extra = {}) {
  const u = new URL(path, backend.base);
  for (const [k, v] of Object.entries({ ...backend.query, ...extra })) u.searchParams.set(k, v);
  return u.toString();
}

/** A browser context whose user is `name`/`color` (seeded into localStorage before any script runs). */
export async function newUserContext(browser, { name, color, viewport = { width: 900, height: 700 } }) {
  const context = await browser.newContext({ viewport });
  await context.addInitScript(([n, c]) => {
    if (!localStorage.getItem('weft:user')) localStorage.setItem('weft:user', JSON.stringify({ name: n, color: c }));
  }, [name, color]);
  return context;
}

export function ensureArtifacts() {
  mkdirSync(ARTIFACTS, { recursive: true });
  return ARTIFACTS;
}

export function uniqueName(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}
