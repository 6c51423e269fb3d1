// End-to-end tests of the web client in a real headless Chromium against a
// real server (Weft by default; WEFT_E2E_SERVER=reference for the reference
// Node y-websocket server). Run with `npm run e2e`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import {
  ensureArtifacts, launchBrowser, newUserContext, pageUrl, startBackend, uniqueName, waitFor,
} from './harness.mjs';
import { startDenyServer } from './deny-server.mjs';

const T = { timeout: 20000 };
let backend;
let browser;

before(async () => {
  backend = await startBackend();
  browser = await launchBrowser();
  console.log(`# backend: ${backend.kind} at ${backend.base} (ws ${backend.wsUrl})`);
});

after(async () => {
  await browser?.close();
  await backend?.stop();
});

// ---- page helpers ----
const status = (page) => page.evaluate(() => document.querySelector('[data-testid=status]')?.dataset.state ?? null);
const waitStatus = (page, state, timeout = T.timeout) =>
  waitFor(async () => (await status(page)) === state, { timeout, what: `status ${state}` });
const editorText = (page) => page.evaluate(() => window.weft?.editor?.getText() ?? null);
const waitText = (page, pred, what) =>
  waitFor(async () => {
    const t = await editorText(page);
    return t !== null && pred(t);
  }, { ...T, what: what ?? 'editor text' });

function watchErrors(page, errors) {
  page.on('pageerror', (e) => errors.push(`${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/WebSocket|ERR_INTERNET_DISCONNECTED|Failed to load resource/.test(m.text())) errors.push(m.text());
  });
}

async function openDoc(context, name, extra = {}, errors = []) {
  const page = await context.newPage();
  watchErrors(page, errors);
  await page.goto(pageUrl(backend, `/d/${name}`, extra));
  await page.waitForSelector('.ProseMirror', T);
  return page;
}

/**
 * Take a browser context offline. context.setOffline(true) alone does NOT cut
 * an already open WebSocket in Chromium (it only fails new connections and
 * flips navigator.onLine), and a socket close() may then wait for a closing
 * handshake that never completes. So after cutting the network we fire the
 * socket's close handler from the page with code 1006, as the browser does when
 * it notices a dead connection: the stock provider drops the socket and keeps
 * retrying (and failing) until setOffline(false).
 */
async function dropNetwork(context, page) {
  await context.setOffline(true);
  await page.evaluate(() => {
    const ws = window.weft.provider.ws;
    if (ws && ws.onclose) ws.onclose(new CloseEvent('close', { code: 1006, reason: 'network lost (test)' }));
  });
  await waitStatus(page, 'offline');
  assert.equal(await page.evaluate(() => window.weft.provider.wsconnected), false);
}

/** Wait until two editors hold the same text (edits may still be in flight). */
async function waitSame(a, b, what = 'editors converge') {
  let last;
  await waitFor(async () => {
    last = [await editorText(a), await editorText(b)];
    return last[0] !== null && last[0] === last[1];
  }, { ...T, what }).catch((e) => {
    throw new Error(`${e.message}\nA: ${JSON.stringify(last?.[0])}\nB: ${JSON.stringify(last?.[1])}`);
  });
  return last[0];
}

/** Type at the end of the document. */
async function typeAtEnd(page, text) {
  await page.evaluate(() => window.weft.editor.commands.focus('end'));
  await page.keyboard.type(text, { delay: 5 });
}

describe('rich-text editor', () => {
  const doc = uniqueName('e2e-rich');
  let ctxA, ctxB, pageA, pageB;
  const errors = [];

  before(async () => {
    ctxA = await newUserContext(browser, { name: 'Alice Tester', color: '#e03131' });
    ctxB = await newUserContext(browser, { name: 'Bob Tester', color: '#1971c2' });
  });
  after(async () => {
    await ctxA?.close();
    await ctxB?.close();
  });

  test('two users edit the same document and see each other', async () => {
    pageA = await openDoc(ctxA, doc, {}, errors);
    pageB = await openDoc(ctxB, doc, {}, errors);
    await waitStatus(pageA, 'connected');
    await waitStatus(pageB, 'connected');

    await typeAtEnd(pageA, 'Hello from Alice.');
    await waitText(pageB, (t) => t.includes('Hello from Alice.'), 'B sees A');
    await pageB.keyboard.press('End');
    await typeAtEnd(pageB, ' And hello from Bob!');
    await waitText(pageA, (t) => t.includes('And hello from Bob!'), 'A sees B');

    // Formatting from the toolbar travels too.
    await pageA.evaluate(() => window.weft.editor.commands.focus('end'));
    await pageA.keyboard.press('Enter');
    await pageA.click('[data-tool=h2]');
    await pageA.keyboard.type('Agenda', { delay: 5 });
    await pageA.keyboard.press('Enter');
    await pageA.click('[data-tool=bullet]');
    await pageA.keyboard.type('first item', { delay: 5 });
    await waitFor(() => pageB.evaluate(() => !!document.querySelector('.ProseMirror h2') && !!document.querySelector('.ProseMirror ul li')), { ...T, what: 'B sees heading + list' });

    const ta = await waitSame(pageA, pageB);
    for (const s of ['Hello from Alice.', 'And hello from Bob!', 'Agenda', 'first item']) assert.ok(ta.includes(s), `text has ${s}`);

    // The Yjs fragment is the XmlFragment named "default".
    const xml = await pageA.evaluate(() => window.weft.ydoc.getXmlFragment('default').toString());
    assert.match(xml, /<heading level="2">Agenda<\/heading>/);

    // Each sees the other's cursor label and avatar (next to their own, which is the user menu).
    const label = (page, name) =>
      waitFor(() => page.evaluate((n) => [...document.querySelectorAll('.collaboration-carets__label')].some((e) => e.textContent === n), name), { ...T, what: `cursor label ${name}` });
    await label(pageA, 'Bob Tester');
    await label(pageB, 'Alice Tester');
    await waitFor(() => pageA.evaluate(() => document.querySelector('[data-testid=avatars]').dataset.count === '1'), { ...T, what: 'one other avatar' });
    const names = await pageB.$$eval('[data-testid=avatars] .avatar', (els) => els.map((e) => e.dataset.name));
    assert.deepEqual(names, ['Alice Tester']);
    assert.equal(await pageB.getAttribute('[data-testid=self-avatar]', 'data-name'), 'Bob Tester');

    // Share link.
    assert.equal(await pageA.inputValue('[data-testid=share-link]'), `${backend.base}/d/${doc}${backend.kind === 'reference' ? `?server=${encodeURIComponent(backend.wsUrl)}` : ''}`);

    // Screenshot: both editors side by side in one picture.
    await pageB.evaluate(() => window.weft.editor.commands.setTextSelection({ from: 1, to: 6 }));
    await label(pageA, 'Bob Tester');
    const shotA = await pageA.screenshot();
    const shotB = await pageB.screenshot();
    const dir = ensureArtifacts();
    const composer = await ctxA.newPage({ viewport: { width: 1816, height: 700 } });
    await composer.setViewportSize({ width: 1816, height: 700 });
    await composer.setContent(`<body style="margin:0;display:flex;gap:16px;background:#868e96">
      <img src="data:image/png;base64,${shotA.toString('base64')}"><img src="data:image/png;base64,${shotB.toString('base64')}"></body>`);
    await composer.waitForFunction(() => [...document.images].every((i) => i.complete && i.naturalWidth > 0));
    await composer.screenshot({ path: join(dir, 'two-editors.png') });
    await composer.close();
    assert.ok(readFileSync(join(dir, 'two-editors.png')).length > 10000);
  });

  test('a changed name and colour reach the others and are remembered', async () => {
    await pageB.click('.user-menu summary');
    await pageB.fill('[data-testid=user-name]', 'Bobby Renamed');
    await pageB.press('[data-testid=user-name]', 'Enter');
    await pageB.click('.user-menu summary');
    await pageB.click('.swatch[title="#099268"]');
    await pageB.keyboard.press('Escape');
    await typeAtEnd(pageB, '!');
    await waitFor(() => pageA.evaluate(() => [...document.querySelectorAll('.collaboration-carets__label')].some((e) => e.textContent === 'Bobby Renamed' && e.style.backgroundColor === 'rgb(9, 146, 104)')), { ...T, what: 'A sees the new name/colour' });
    await waitFor(() => pageA.evaluate(() => [...document.querySelectorAll('[data-testid=avatars] .avatar')].some((e) => e.dataset.name === 'Bobby Renamed')), { ...T, what: 'avatar renamed' });
    await pageB.reload();
    await pageB.waitForSelector('.ProseMirror', T);
    await waitStatus(pageB, 'connected');
    assert.equal(await pageB.inputValue('[data-testid=user-name]'), 'Bobby Renamed');
    assert.equal(await pageB.evaluate(() => JSON.parse(localStorage.getItem('weft:user')).color), '#099268');
  });

  test('undo only undoes your own changes', async () => {
    await typeAtEnd(pageB, ' Bob-undo-me');
    await waitText(pageA, (t) => t.includes('Bob-undo-me'));
    await typeAtEnd(pageA, ' alice-keeps');
    await waitText(pageB, (t) => t.includes('alice-keeps'));
    await pageB.click('[data-tool=undo]');
    await waitText(pageA, (t) => !t.includes('Bob-undo-me') && t.includes('alice-keeps'), 'B undid only its own text');
    await waitText(pageB, (t) => !t.includes('Bob-undo-me') && t.includes('alice-keeps'));
  });

  test('a reload keeps the content (and a fresh browser gets it from the server)', async () => {
    const before = await editorText(pageA);
    await pageA.reload();
    await pageA.waitForSelector('.ProseMirror', T);
    await waitStatus(pageA, 'connected');
    await waitText(pageA, (t) => t === before, 'content after reload');
    const fresh = await browser.newContext();
    try {
      const p = await openDoc(fresh, doc, {}, errors);
      await waitStatus(p, 'connected');
      await waitText(p, (t) => t === before, 'content in a fresh context');
    } finally {
      await fresh.close();
    }
  });

  test('offline edits are kept and converge when the connection returns', async () => {
    await dropNetwork(ctxB, pageB);

    await typeAtEnd(pageB, ' [B offline edit]');
    await typeAtEnd(pageA, ' [A online edit]');
    await new Promise((r) => setTimeout(r, 300)); // give a (wrongly) open socket a chance to leak the edit
    assert.ok(!(await editorText(pageA)).includes('[B offline edit]'), 'B\'s offline edit must not reach A while offline');
    assert.ok(!(await editorText(pageB)).includes('[A online edit]'));

    await ctxB.setOffline(false);
    await waitStatus(pageB, 'connected', 30000);
    await waitText(pageA, (t) => t.includes('[B offline edit]'), 'A gets B\'s offline edit');
    await waitText(pageB, (t) => t.includes('[A online edit]'), 'B gets A\'s edit');
    await waitSame(pageA, pageB);
  });

  test('offline edits survive closing the tab (IndexedDB) and sync later', async () => {
    await dropNetwork(ctxB, pageB);
    await typeAtEnd(pageB, ' [B stored locally]');
    // Wait until IndexedDB holds the edit (read back through a second Y.Doc).
    await waitFor(() => pageB.evaluate(async () => {
      const { Y, IndexeddbPersistence, session } = window.weft;
      const d = new Y.Doc();
      const p = new IndexeddbPersistence(`weft:${session.serverUrl}:${session.docName}`, d);
      await p.whenSynced;
      const s = d.getXmlFragment('default').toString();
      await p.destroy();
      return s.includes('[B stored locally]');
    }), { ...T, what: 'edit stored in IndexedDB' });
    await pageB.close();
    assert.ok(!(await editorText(pageA)).includes('[B stored locally]'));

    await ctxB.setOffline(false);
    pageB = await openDoc(ctxB, doc, {}, errors);
    await waitStatus(pageB, 'connected');
    await waitText(pageA, (t) => t.includes('[B stored locally]'), 'A gets the edit made offline in a closed tab');
    await waitSame(pageA, pageB);
  });

  test('a read-only viewer (?readonly=1) cannot change the text', async () => {
    const ctxR = await newUserContext(browser, { name: 'Rita Reader', color: '#2f9e44' });
    try {
      const page = await openDoc(ctxR, doc, { readonly: '1' }, errors);
      await waitStatus(page, 'connected');
      const expected = await editorText(pageA);
      await waitText(page, (t) => t === expected, 'reader sees the document');
      assert.equal(await page.getAttribute('.ProseMirror', 'contenteditable'), 'false');
      assert.ok(await page.isVisible('[data-testid=readonly-badge]'));
      assert.ok(await page.isDisabled('[data-tool=bold]'));
      await page.click('.ProseMirror');
      await page.keyboard.type('READER WAS HERE', { delay: 5 });
      await page.keyboard.press('Enter');
      await page.keyboard.press('Backspace');
      await page.keyboard.press('Control+a');
      await page.keyboard.press('Delete');
      // Live edits still arrive...
      await typeAtEnd(pageA, ' [after reader]');
      await waitText(page, (t) => t.includes('[after reader]'), 'reader receives edits');
      // ...but nothing the reader did reached anyone.
      const now = await waitSame(pageA, page, 'reader and writer agree');
      assert.ok(!now.includes('READER'));
      assert.equal(await editorText(pageB).then((t) => t.includes('READER')), false);
    } finally {
      await ctxR.close();
    }
  });

  test('a server restart: the page shows reconnecting, then resyncs and keeps everything', async (t) => {
    if (!backend.restart) {
      t.skip('backend cannot restart with persistence');
      return;
    }
    const before = await waitSame(pageA, pageB);
    await pageA.evaluate(() => {
      window.__states = [];
      window.weft.session.tracker.subscribe((v) => window.__states.push(v.state));
    });
    await backend.restart('SIGKILL', { downMs: 300 });
    // While the server is gone (or right after), both pages notice and come back on their own.
    await waitStatus(pageA, 'connected', 30000);
    await waitStatus(pageB, 'connected', 30000);
    const states = await pageA.evaluate(() => window.__states);
    assert.ok(states.includes('reconnecting'), `states seen: ${states}`);
    await typeAtEnd(pageA, ' [after restart]');
    await waitText(pageB, (t) => t.includes('[after restart]'));
    const after = await waitSame(pageA, pageB);
    assert.ok(after.startsWith(before.trimEnd()) || after.includes(before.trim().slice(0, 40)));
    const fresh = await browser.newContext();
    try {
      const p = await openDoc(fresh, doc, {}, errors);
      await waitStatus(p, 'connected');
      await waitSame(pageA, p, 'a fresh client gets the persisted document');
    } finally {
      await fresh.close();
    }
  });

  test('no unexpected page errors', () => {
    assert.deepEqual(errors, []);
  });
});

describe('code editor page', () => {
  test('two users edit /code/{name} (CodeMirror + Y.Text "codemirror") with remote cursors', async () => {
    const name = uniqueName('e2e-code');
    const ctxA = await newUserContext(browser, { name: 'Cora Coder', color: '#9c36b5' });
    const ctxB = await newUserContext(browser, { name: 'Dan Dev', color: '#099268' });
    const errors = [];
    try {
      const open = async (ctx) => {
        const p = await ctx.newPage();
        watchErrors(p, errors);
        await p.goto(pageUrl(backend, `/code/${name}`));
        await p.waitForSelector('.cm-content', T);
        await waitStatus(p, 'connected');
        return p;
      };
      const a = await open(ctxA);
      const b = await open(ctxB);
      const text = (p) => p.evaluate(() => window.weft.ydoc.getText('codemirror').toString());
      await a.click('.cm-content');
      await a.keyboard.type('fn main() {}\n', { delay: 5 });
      await waitFor(async () => (await text(b)).includes('fn main() {}'), { ...T, what: 'B sees A' });
      await b.click('.cm-content');
      await b.keyboard.press('Control+End');
      await b.keyboard.type('// by Dan', { delay: 5 });
      await waitFor(async () => (await text(a)).includes('// by Dan'), { ...T, what: 'A sees B' });
      assert.equal(await text(a), await text(b));
      assert.equal(await a.evaluate(() => window.weft.view.state.doc.toString()), await text(a));
      await waitFor(() => a.evaluate(() => [...document.querySelectorAll('.cm-ySelectionInfo')].some((e) => e.textContent === 'Dan Dev')), { ...T, what: 'A sees Dan\'s cursor' });
      await waitFor(() => b.evaluate(() => [...document.querySelectorAll('.cm-ySelectionInfo')].some((e) => e.textContent === 'Cora Coder')), { ...T, what: 'B sees Cora\'s cursor' });
      // Avatars: both present, then B leaves (awareness removal is broadcast on disconnect).
      const count = (p) => p.evaluate(() => document.querySelector('[data-testid=avatars]').dataset.count);
      await waitFor(async () => (await count(a)) === '1', { ...T, what: 'the other avatar' });
      await b.close();
      await waitFor(async () => (await count(a)) === '0', { ...T, what: 'A sees B leave' });
      assert.deepEqual(errors, []);
    } finally {
      await ctxA.close();
      await ctxB.close();
    }
  });
});

describe('document list', () => {
  test('create, validate, recent documents', async () => {
    const ctx = await newUserContext(browser, { name: 'Nora New', color: '#e8590c' });
    try {
      const page = await ctx.newPage();
      await page.goto(pageUrl(backend, '/'));
      await page.waitForSelector('[data-testid=new-doc-name]');
      assert.match(await page.textContent('[data-testid=recent]'), /No recent documents/);
      await page.fill('[data-testid=new-doc-name]', 'bad name!');
      await page.click('[data-testid=create-doc]');
      assert.match(await page.textContent('[data-testid=name-error]'), /not allowed/);
      assert.equal(new URL(page.url()).pathname, '/');
      const name = `${uniqueName('team')}/notes.v1`;
      await page.fill('[data-testid=new-doc-name]', name);
      await Promise.all([page.waitForURL((u) => u.pathname === `/d/${name}`), page.click('[data-testid=create-doc]')]);
      await page.waitForSelector('.ProseMirror', T);
      await waitStatus(page, 'connected');
      assert.equal(await page.textContent('[data-testid=doc-name]'), name);
      await page.click('.brand');
      await page.waitForSelector('[data-testid=recent] .recent-link');
      assert.equal(await page.textContent('[data-testid=recent] .recent-name'), name);
      // Unknown deep paths fall back to the app; invalid names get a message.
      await page.goto(pageUrl(backend, '/d/bad%20name'));
      await page.waitForSelector('text=Invalid document name');
    } finally {
      await ctx.close();
    }
  });
});

describe('access refused', () => {
  let deny;
  before(async () => {
    deny = await startDenyServer();
  });
  after(async () => deny?.close());

  for (const code of [4401, 4403]) {
    test(`close code ${code} shows "access refused" and stops retrying`, async () => {
      const ctx = await browser.newContext();
      try {
        const page = await ctx.newPage();
        await page.goto(pageUrl(backend, `/d/close-${code}/doc`, { server: deny.url }));
        await waitStatus(page, 'denied');
        const banner = await page.textContent('[data-testid=banner]');
        assert.match(banner, /Access refused/);
        const n = deny.upgrades();
        await new Promise((r) => setTimeout(r, 1500)); // a retry would come within 1.5 s (backoff ≤ 2.5 s from 200 ms)
        assert.ok(deny.upgrades() - n <= 0, 'no reconnect after a 44xx close');
      } finally {
        await ctx.close();
      }
    });
  }

  test('repeatedly failing upgrade (HTTP 403) shows a clear message', async () => {
    const ctx = await browser.newContext();
    try {
      const page = await ctx.newPage();
      await page.goto(pageUrl(backend, '/d/forbidden-doc', { server: deny.url }));
      await waitStatus(page, 'offline', 20000);
      assert.match(await page.textContent('[data-testid=banner]'), /unreachable or refused access/);
    } finally {
      await ctx.close();
    }
  });
});
