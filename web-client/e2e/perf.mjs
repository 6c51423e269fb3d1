// Load-time and bundle-size probe: `npm run perf` (after `npm run build`).
// Starts the backend like the e2e tests (WEFT_E2E_SERVER, WEFT_BIN), loads each
// page RUNS times in a fresh browser context (cold cache) and prints medians of
// Chromium's navigation timing plus the app's own marks:
//   weft:editor-ready  the editor is mounted and editable
//   weft:synced        first sync with the server completed
// and the gzip size of the JavaScript each page actually loaded.
import { gzipSync } from 'node:zlib';
import { launchBrowser, newUserContext, pageUrl, startBackend, waitFor } from './harness.mjs';

const RUNS = Number(process.env.RUNS || 5);
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };

const backend = await startBackend();
const browser = await launchBrowser();
const out = { backend: backend.kind, runs: RUNS, pages: {} };
try {
  // Some content so the sync is not trivially empty.
  {
    const ctx = await newUserContext(browser, { name: 'Seeder', color: '#1971c2' });
    const p = await ctx.newPage();
    await p.goto(pageUrl(backend, '/d/perf-doc'));
    await waitFor(() => p.evaluate(() => document.querySelector('[data-testid=status]')?.dataset.state === 'connected'));
    await p.evaluate(() => {
      const e = window.weft.editor;
      for (let i = 0; i < 50; i++) e.commands.insertContent(`<h2>Section ${i}</h2><p>Lorem ipsum dolor sit amet, paragraph ${i}.</p>`);
    });
    await ctx.close();
  }
  for (const [label, path, ready] of [
    ['home', '/', null],
    ['editor', '/d/perf-doc', 'weft:synced'],
    ['code', '/code/perf-code', 'weft:synced'],
    ['monaco', '/monaco/perf-monaco.js', 'weft:synced'],
    ['quill', '/quill/perf-quill', 'weft:synced'],
    ['data', '/data/perf-data', 'weft:synced'],
  ]) {
    const rows = [];
    let jsGz = 0;
    let jsRaw = 0;
    for (let i = 0; i < RUNS; i++) {
      const ctx = await newUserContext(browser, { name: 'Perf', color: '#2f9e44' });
      const page = await ctx.newPage();
      const js = [];
      page.on('response', async (r) => {
        if (r.url().endsWith('.js')) js.push(r.body().then((b) => b).catch(() => Buffer.alloc(0)));
      });
      await page.goto(pageUrl(backend, path), { waitUntil: 'load' });
      if (ready) await page.waitForFunction((m) => performance.getEntriesByName(m).length > 0, ready, { timeout: 20000 });
      const t = await page.evaluate(() => {
        const n = performance.getEntriesByType('navigation')[0];
        const mark = (m) => performance.getEntriesByName(m)[0]?.startTime ?? null;
        return {
          ttfb: n.responseStart, domInteractive: n.domInteractive, domContentLoaded: n.domContentLoadedEventEnd,
          load: n.loadEventEnd, editorReady: mark('weft:editor-ready'), synced: mark('weft:synced'),
        };
      });
      rows.push(t);
      if (i === 0) {
        const bodies = await Promise.all(js);
        jsRaw = bodies.reduce((s, b) => s + b.length, 0);
        jsGz = bodies.reduce((s, b) => s + gzipSync(b, { level: 9 }).length, 0);
      }
      await ctx.close();
    }
    const med = {};
    for (const k of Object.keys(rows[0])) {
      const v = rows.map((r) => r[k]).filter((x) => x !== null);
      med[k] = v.length ? Math.round(median(v)) : null;
    }
    out.pages[label] = { path, ms_median: med, js_bytes: jsRaw, js_gzip_bytes: jsGz };
  }
} finally {
  await browser.close();
  await backend.stop();
}
console.log(JSON.stringify(out, null, 2));
