// The rich-text editor's History panel against the Weft document API (issues 5, 6):
// two users edit, one saves a version, both edit more, one restores the version, and
// the other page converges to the old content without a reload.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
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

const text = (p) => p.evaluate(() => window.weft?.editor?.getText() ?? null);
const waitText = (p, pred, what) => waitFor(async () => { const t = await text(p); return t !== null && pred(t); }, { ...T, what });
const waitStatus = (p, state) =>
  waitFor(async () => (await p.evaluate(() => document.querySelector('[data-testid=status]')?.dataset.state)) === state, { ...T, what: `status ${state}` });

function watchErrors(page, errors) {
  page.on('pageerror', (e) => errors.push(`${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/WebSocket|ERR_INTERNET_DISCONNECTED|Failed to load resource/.test(m.text())) errors.push(m.text());
  });
}

async function typeAtEnd(page, s) {
  await page.evaluate(() => window.weft.editor.commands.focus('end'));
  // Tiptap focuses the view in the next animation frame: until then keys go to whatever had
  // the focus (here the panel's Save button, which a space would press).
  await page.waitForFunction(() => window.weft.editor.view.hasFocus(), null, T);
  await page.keyboard.type(s, { delay: 5 });
}

describe('version history panel', () => {
  test('save a version, edit more, restore it from A: B converges to the old content without a reload', async (t) => {
    if (apiMissing) {
      t.skip(apiMissing);
      return;
    }
    const name = `${uniqueName('e2e-hist')}/notes`; // a `/` in the name travels as %2F in the API
    const ctxA = await newUserContext(browser, { name: 'Hana History', color: '#9c36b5' });
    const ctxB = await newUserContext(browser, { name: 'Ivo Idle', color: '#099268' });
    const ctxR = await newUserContext(browser, { name: 'Rae Reader', color: '#e8590c' });
    const errors = [];
    try {
      const open = async (ctx, extra = {}) => {
        const p = await ctx.newPage();
        watchErrors(p, errors);
        await p.goto(pageUrl(backend, `/d/${name}`, extra));
        await p.waitForSelector('.ProseMirror', T);
        await waitStatus(p, 'connected');
        return p;
      };
      const a = await open(ctxA);
      const b = await open(ctxB);

      await typeAtEnd(a, 'Version one text.');
      await waitText(b, (s) => s === 'Version one text.', 'B sees A');

      // Save a labelled version from A's panel; the list shows it.
      await a.click('[data-testid=history-toggle]');
      await a.fill('[data-testid=history-label]', 'first draft');
      await a.click('[data-testid=history-save]');
      await a.waitForSelector('[data-testid=history-notice]:not([hidden])', T);
      assert.match(await a.textContent('[data-testid=history-notice]'), /first draft/);
      const saved = a.locator('[data-testid=history-item]', { hasText: 'first draft' });
      await saved.waitFor(T);
      assert.equal(await saved.getAttribute('data-kind'), 'manual');

      // Both edit more.
      await typeAtEnd(a, ' More from A.');
      await waitText(b, (s) => s.endsWith('More from A.'), 'B sees A again');
      await typeAtEnd(b, ' More from B.');
      let last;
      await waitFor(async () => {
        last = [await text(a), await text(b)];
        return last[0] === last[1] && last[0] === 'Version one text. More from A. More from B.';
      }, { ...T, what: 'both edits everywhere' }).catch((e) => { throw new Error(`${e.message}: ${JSON.stringify(last)}`); });

      // B marks its page: a reload would lose the mark.
      await b.evaluate(() => { window.__noReload = true; });

      // Preview on A: read-only, the old content, the live page hidden.
      await saved.click();
      await a.waitForSelector('[data-testid=history-preview][data-state=ready]', T);
      const preview = await a.evaluate(() => window.weft.previewEditor.getText());
      assert.equal(preview, 'Version one text.');
      assert.equal(await a.getAttribute('[data-testid=history-preview] .ProseMirror', 'contenteditable'), 'false');
      assert.ok(await a.isHidden('[data-testid=editor]'), 'live editor hidden during the preview');
      assert.ok((await text(b)).includes('More from B.'), 'a preview changes nothing for others');
      await a.screenshot({ path: join(ensureArtifacts(), 'history-preview.png') });

      // Restore (with the confirm step).
      await a.click('[data-testid=history-restore]');
      assert.ok(await a.isVisible('[data-testid=history-confirm]'));
      await a.click('[data-testid=history-restore-confirm]');
      await a.waitForSelector('[data-testid=history-preview]', { state: 'hidden', ...T });
      assert.match(await a.textContent('[data-testid=history-notice]'), /Restored “first draft”/);

      await waitText(b, (s) => s === 'Version one text.', 'B converges to the restored version');
      await waitText(a, (s) => s === 'Version one text.', 'A converges to the restored version');
      assert.equal(await b.evaluate(() => window.__noReload), true, 'B was not reloaded');
      // The server took a version of the restored state.
      await a.locator('[data-testid=history-item][data-kind=restore]').first().waitFor(T);

      // Editing goes on from the restored content.
      await typeAtEnd(b, ' After restore.');
      await waitText(a, (s) => s === 'Version one text. After restore.', 'A sees B after the restore');

      // A reader lists and previews versions but cannot save or restore.
      const r = await open(ctxR, { readonly: '1' });
      await r.click('[data-testid=history-toggle]');
      await r.locator('[data-testid=history-item]', { hasText: 'first draft' }).click();
      await r.waitForSelector('[data-testid=history-preview][data-state=ready]', T);
      assert.ok(await r.isHidden('[data-testid=history-save]'));
      assert.ok(await r.isHidden('[data-testid=history-restore]'));
      assert.deepEqual(errors, []);
    } finally {
      await ctxA.close();
      await ctxB.close();
      await ctxR.close();
    }
  });

  test('errors from the API are shown from problem+json', async (t) => {
    if (apiMissing) {
      t.skip(apiMissing);
      return;
    }
    const ctx = await newUserContext(browser, { name: 'Eve Error', color: '#e03131' });
    try {
      const p = await ctx.newPage();
      await p.goto(pageUrl(backend, `/d/${uniqueName('e2e-hist-err')}`));
      await p.waitForSelector('.ProseMirror', T);
      await waitStatus(p, 'connected');
      await typeAtEnd(p, 'x');
      // A stale list: it names a version the server does not have. Previewing it shows the server's
      // own 404 problem+json detail, and no Restore button.
      const ghost = { id: 999999, label: 'ghost', kind: 'manual', created_at: new Date().toISOString(), size_bytes: 1 };
      await p.route(/\/api\/v1\/documents\/[^/]+\/versions$/, async (route) => {
        if (route.request().method() !== 'GET') return route.continue();
        const real = await route.fetch();
        const body = real.status() === 200 ? await real.json() : { versions: [] };
        return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ versions: [ghost, ...body.versions] }) });
      });
      await p.click('[data-testid=history-toggle]');
      await p.locator('[data-testid=history-item]', { hasText: 'ghost' }).click();
      await p.waitForSelector('[data-testid=preview-error]:not([hidden])', T);
      const shown = await p.textContent('[data-testid=preview-error]');
      const expected = await p.evaluate(async () => {
        const r = await fetch(`/api/v1/documents/${encodeURIComponent(window.weft.session.docName)}/versions/999999/update`);
        return { status: r.status, type: r.headers.get('content-type'), detail: (await r.json()).detail };
      });
      assert.equal(expected.status, 404);
      assert.match(expected.type, /problem\+json/);
      assert.equal(shown, expected.detail);
      assert.ok(await p.isHidden('[data-testid=history-restore]'));
      await p.click('[data-testid=history-back]');
      assert.ok(await p.isVisible('[data-testid=editor]'));
    } finally {
      await ctx.close();
    }
  });
});
