// Issue 15: `/` lists the server's documents (GET /api/v1/documents: a name filter, paging,
// an explanation when the server refuses the list), and the editor header shows the current
// user once (the user menu's button, marked "you") with everyone else as other avatars.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import {
  documentApiMissing, ensureArtifacts, launchBrowser, newUserContext, pageUrl, startBackend, uniqueName, waitFor,
} from './harness.mjs';

const T = { timeout: 20000 };
let backend;
let browser;
let apiMissing = null;

before(async () => {
  backend = await startBackend();
  browser = await launchBrowser();
  apiMissing = await documentApiMissing(backend);
});

after(async () => {
  await browser?.close();
  await backend?.stop();
});

function watchErrors(page, errors) {
  page.on('pageerror', (e) => errors.push(`${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/WebSocket|ERR_INTERNET_DISCONNECTED|Failed to load resource/.test(m.text())) errors.push(m.text());
  });
}

/** POST /api/v1/documents (with `text` in a Y.Text when given). */
async function createDoc(base, name, { text, key = 'codemirror', auth } = {}) {
  const body = text === undefined ? { name } : { name, text: { key, value: text } };
  const headers = { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) };
  const r = await fetch(`${base}/api/v1/documents`, { method: 'POST', headers, body: JSON.stringify(body) });
  assert.equal(r.status, 201, `create ${name}: ${await r.text()}`);
}

/** The names the list shows now. */
const listed = (page) => page.$$eval('[data-testid=server-doc]', (els) => els.map((e) => e.dataset.name));
/** The names listed once the list has settled, listed with `filter`, and `pred` holds. */
async function waitListed(page, filter, pred, what) {
  let last;
  await waitFor(async () => {
    last = await listed(page);
    const settled = await page.$eval('[data-testid=server-docs]', (s) => s.dataset.state === 'ready' && !s.hasAttribute('aria-busy') ? s.dataset.filter : null);
    return settled === filter && pred(last);
  }, { ...T, what }).catch((e) => {
    throw new Error(`${e.message}; listed: ${JSON.stringify(last)}`);
  });
  return last;
}

describe('the document list on /', () => {
  test('shows documents made through the REST API, filtered by name, page by page; links open their page', async (t) => {
    if (apiMissing) {
      t.skip(apiMissing);
      return;
    }
    const prefix = `${uniqueName('e2e-list')}/`;
    const names = Array.from({ length: 22 }, (_, i) => `${prefix}p-${String(i).padStart(2, '0')}`);
    for (const n of names) await createDoc(backend.base, n);
    const welcome = `${prefix}welcome`;
    await createDoc(backend.base, welcome, { text: 'Hello from the API' });
    await createDoc(backend.base, `${uniqueName('other')}`);

    const ctx = await newUserContext(browser, { name: 'Lena Lister', color: '#2f9e44' });
    const errors = [];
    try {
      const page = await ctx.newPage();
      watchErrors(page, errors);
      await page.goto(pageUrl(backend, '/'));
      await page.waitForSelector('[data-testid=server-docs][data-state=ready]', T);
      assert.match(await page.textContent('[data-testid=recent]'), /No recent documents/, 'Recent on this device stays its own section');

      // The filter narrows to our prefix: 23 documents, 20 a page.
      await page.fill('[data-testid=server-docs-filter]', prefix);
      const first = await waitListed(page, prefix, (l) => l.length === 20 && l.every((n) => n.startsWith(prefix)), 'page 1 of the filtered list');
      assert.deepEqual(first, names.slice(0, 20));
      assert.equal(await page.textContent('[data-testid=server-docs-page]'), 'Page 1');
      assert.ok(await page.isDisabled('[data-testid=server-docs-prev]'));
      await page.click('[data-testid=server-docs-next]');
      const second = await waitListed(page, prefix, (l) => l.length === 3, 'page 2');
      assert.deepEqual(second, [...names.slice(20), welcome]);
      assert.equal(await page.textContent('[data-testid=server-docs-page]'), 'Page 2');
      assert.ok(await page.isDisabled('[data-testid=server-docs-next]'));
      await page.screenshot({ path: join(ensureArtifacts(), 'home.png'), fullPage: true });
      await page.click('[data-testid=server-docs-prev]');
      assert.deepEqual(await waitListed(page, prefix, (l) => l.length === 20, 'back to page 1'), first);

      // Never opened on this device: the name links to the default (rich-text) page, and the
      // other pages are one click away; the API wrote the `codemirror` text, which /code/ shows.
      await page.fill('[data-testid=server-docs-filter]', welcome);
      await waitListed(page, welcome, (l) => l.length === 1 && l[0] === welcome, 'the welcome document alone');
      const row = page.locator(`[data-testid=server-doc][data-name="${welcome}"]`);
      assert.equal(await row.locator('a.recent-link').getAttribute('href'), `/d/${welcome}`);
      await Promise.all([page.waitForURL((u) => u.pathname === `/code/${welcome}`), row.locator('a[data-kind=code]').click()]);
      await waitFor(() => page.evaluate(() => window.weft?.view?.state.doc.toString() === 'Hello from the API'), { ...T, what: 'the API text in CodeMirror' });

      // Back on /: now known here as a code document, it links to /code/.
      await page.goto(pageUrl(backend, '/'));
      await page.fill('[data-testid=server-docs-filter]', welcome);
      await waitListed(page, welcome, (l) => l.length === 1, 'the welcome document again');
      assert.equal(await row.locator('a.recent-link').getAttribute('href'), `/code/${welcome}`);
      assert.equal(await page.textContent('[data-testid=recent] .recent-name'), welcome);

      // The same page with the `/` of the name given as %2F (the API's spelling).
      await page.goto(pageUrl(backend, `/code/${encodeURIComponent(welcome)}`));
      await waitFor(() => page.evaluate(() => window.weft?.view?.state.doc.toString() === 'Hello from the API'), { ...T, what: 'the %2F page' });
      assert.equal(await page.textContent('[data-testid=doc-name]'), welcome);
      await page.goto(pageUrl(backend, `/d/${encodeURIComponent(welcome)}`));
      await page.waitForSelector('.ProseMirror', T);
      assert.equal(await page.textContent('[data-testid=doc-name]'), welcome);
      assert.deepEqual(errors, []);
    } finally {
      await ctx.close();
    }
  });

  test('a server that refuses the list: / says why and the rest works; a prefix token lists its documents', async (t) => {
    if (apiMissing) {
      t.skip(apiMissing);
      return;
    }
    const secret = 'an e2e secret that is long enough, 32+ bytes';
    const adminKey = 'an e2e admin key that is long enough too';
    const secured = await startBackend({ weftArgs: ['--auth-secret', secret, '--admin-key', adminKey] });
    const ctx = await newUserContext(browser, { name: 'Rita Refused', color: '#c2255c' });
    try {
      const prefix = `${uniqueName('team')}/`;
      await createDoc(secured.base, `${prefix}plan`, { auth: adminKey });
      await createDoc(secured.base, `${uniqueName('elsewhere')}`, { auth: adminKey });
      const page = await ctx.newPage();
      await page.goto(`${secured.base}/`);
      await page.waitForSelector('[data-testid=server-docs][data-state=refused]', T);
      assert.match(await page.textContent('[data-testid=server-docs-note]'), /admin key or a token for a name prefix/);
      assert.ok(await page.isHidden('[data-testid=server-docs-filter]'));
      assert.match(await page.textContent('[data-testid=recent]'), /No recent documents/);
      await page.fill('[data-testid=new-doc-name]', `${prefix}new`);
      await Promise.all([page.waitForURL((u) => u.pathname === `/d/${prefix}new`), page.click('[data-testid=create-doc]')]);

      // A token for `team…/*` lists what it covers, with the filter set to its scope.
      const token = execFileSync(secured.bin, ['token', '--auth-secret', secret, '--doc', `${prefix}*`, '--access', 'read'], { encoding: 'utf8' }).trim();
      await page.goto(`${secured.base}/?token=${encodeURIComponent(token)}`);
      await page.waitForSelector('[data-testid=server-docs][data-state=ready]', T);
      assert.equal(await page.inputValue('[data-testid=server-docs-filter]'), prefix);
      assert.deepEqual(await listed(page), [`${prefix}plan`]);
    } finally {
      await ctx.close();
      await secured.stop();
    }
  });
});

describe('the editor header', () => {
  test('shows the current user once, marked "you", and a second user as another avatar', async () => {
    const name = uniqueName('e2e-header');
    const ctxA = await newUserContext(browser, { name: 'Ada Alpha', color: '#e03131' });
    const ctxB = await newUserContext(browser, { name: 'Ben Beta', color: '#1971c2' });
    const errors = [];
    const header = (p) => p.$$eval('.topbar .avatar', (els) => els.map((e) => ({
      self: e.classList.contains('self'), text: e.textContent, name: e.dataset.name ?? null, title: e.title,
    })));
    try {
      const open = async (ctx) => {
        const p = await ctx.newPage();
        watchErrors(p, errors);
        await p.goto(pageUrl(backend, `/code/${name}`));
        await p.waitForSelector('.cm-content', T);
        await waitFor(async () => (await p.getAttribute('[data-testid=status]', 'data-state')) === 'connected', { ...T, what: 'connected' });
        return p;
      };
      const a = await open(ctxA);
      // Alone: one avatar in the whole header, the user menu's button, marked "you".
      assert.deepEqual(await header(a), [{ self: true, text: 'AA', name: null, title: 'You (Ada Alpha): change your name and colour' }]);
      assert.equal(await a.textContent('[data-testid=self-avatar]'), 'AAyou');
      assert.ok(await a.isHidden('[data-testid=avatars]'));

      const b = await open(ctxB);
      await waitFor(async () => (await a.getAttribute('[data-testid=avatars]', 'data-count')) === '1', { ...T, what: 'A sees B' });
      await waitFor(async () => (await b.getAttribute('[data-testid=avatars]', 'data-count')) === '1', { ...T, what: 'B sees A' });
      // Each header: you once (the menu button), the other once (a plain avatar).
      assert.deepEqual(await header(a), [
        { self: false, text: 'BB', name: 'Ben Beta', title: 'Ben Beta' },
        { self: true, text: 'AA', name: null, title: 'You (Ada Alpha): change your name and colour' },
      ]);
      assert.deepEqual(await header(b), [
        { self: false, text: 'AA', name: 'Ada Alpha', title: 'Ada Alpha' },
        { self: true, text: 'BB', name: null, title: 'You (Ben Beta): change your name and colour' },
      ]);
      assert.equal(await b.getAttribute('[data-testid=self-avatar]', 'data-name'), 'Ben Beta');
      const dir = ensureArtifacts();
      await a.locator('.topbar').screenshot({ path: join(dir, 'header.png') });

      // The same user in a second tab is another session: shown, and told apart as "you".
      const a2 = await open(ctxA);
      await waitFor(async () => (await a.getAttribute('[data-testid=avatars]', 'data-count')) === '2', { ...T, what: 'A sees the second tab' });
      const titles = (await header(a)).filter((x) => !x.self).map((x) => x.title);
      assert.deepEqual(titles.sort(), ['Ada Alpha (you, in another tab or device)', 'Ben Beta']);
      await a2.close();
      assert.deepEqual(errors, []);
    } finally {
      await ctxA.close();
      await ctxB.close();
    }
  });
});
