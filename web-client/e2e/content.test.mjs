// Rich content over the document API against the Tiptap page in Chromium (issue 16):
// (a) a document typed in the page (headings, lists, marks, a link, a code block) exported as
//     ProseMirror JSON equals y-prosemirror's (Tiptap's fork, @tiptap/y-tiptap) JSON of the
//     page's own Yjs state, and its Markdown export reads as expected;
// (b) a Markdown import (PUT .../content?type=markdown) appears live in the open page.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import { yXmlFragmentToProsemirrorJSON } from '@tiptap/y-tiptap';
import { launchBrowser, newUserContext, pageUrl, startBackend, uniqueName, waitFor } from './harness.mjs';

const T = { timeout: 20000 };
let backend;
let browser;
const skip = (process.env.WEFT_E2E_SERVER || 'weft') !== 'weft' && 'the document API is Weft\'s';

before(async () => {
  if (skip) return;
  backend = await startBackend();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await backend?.stop();
});

const api = (path, init) => fetch(`${backend.base}/api/v1${path}`, init);

/** y-tiptap's JSON of the page's Yjs state, computed here in Node (plain JSON, as on the wire). */
async function pageJSON(page) {
  const state = await page.evaluate(() => Array.from(window.weft.Y.encodeStateAsUpdate(window.weft.ydoc)));
  const doc = new Y.Doc();
  Y.applyUpdate(doc, Uint8Array.from(state));
  return JSON.parse(JSON.stringify(yXmlFragmentToProsemirrorJSON(doc.getXmlFragment('default'))));
}

async function openEditor(name) {
  const ctx = await newUserContext(browser, { name: 'Ada Alpha', color: '#e03131' });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(pageUrl(backend, `/d/${name}`));
  await page.waitForSelector('.ProseMirror', T);
  await waitFor(async () => (await page.evaluate(() => document.querySelector('[data-testid=status]')?.dataset.state)) === 'connected', { ...T, what: 'connected' });
  return { page, errors, close: () => ctx.close() };
}

describe('content conversion with the Tiptap page', { skip }, () => {
  test('(a) a typed document exports as y-prosemirror JSON and as Markdown', async () => {
    const name = uniqueName('typed');
    const { page, errors, close } = await openEditor(name);
    const kb = page.keyboard;
    const type = (s) => kb.type(s, { delay: 5 });
    await page.click('.ProseMirror');
    await type('# Weekly notes');
    await kb.press('Enter');
    await type('Plain, ');
    await kb.press('Control+b'); await type('bold'); await kb.press('Control+b');
    await type(', ');
    await kb.press('Control+i'); await type('italic'); await kb.press('Control+i');
    await type(', ');
    await kb.press('Control+u'); await type('underlined'); await kb.press('Control+u');
    await type(', `code` and https://example.com ');
    await kb.press('Enter');
    await type('- first');
    await kb.press('Enter');
    await type('second');
    await kb.press('Enter');
    await kb.press('Enter');
    await type('1. one');
    await kb.press('Enter');
    await type('two');
    await kb.press('Enter');
    await kb.press('Enter');
    await type('> quoted');
    await kb.press('Enter');
    await kb.press('Enter');
    await type('```rust ');
    await type('fn main() {}');

    let want;
    let got;
    await waitFor(async () => {
      want = await pageJSON(page);
      got = await (await api(`/documents/${encodeURIComponent(name)}/content?type=prosemirror`)).json();
      try { assert.deepStrictEqual(got, want); return true; } catch { return false; }
    }, { ...T, what: 'the export to equal the page\'s JSON' }).catch((e) => {
      throw new Error(`${e.message}\nserver: ${JSON.stringify(got)}\npage:   ${JSON.stringify(want)}`);
    });
    const kinds = want.content.map((n) => n.type);
    for (const k of ['heading', 'paragraph', 'bulletList', 'orderedList', 'blockquote', 'codeBlock']) {
      assert.ok(kinds.includes(k), `typed a ${k}: ${kinds}`);
    }
    const md = await (await api(`/documents/${encodeURIComponent(name)}/content?type=markdown`)).text();
    assert.match(md, /^# Weekly notes\n\nPlain, \*\*bold\*\*, \*italic\*, <u>underlined<\/u>, `code` and \[https:\/\/example\.com\]\(https:\/\/example\.com\)/);
    assert.match(md, /\n- first\n- second\n/);
    assert.match(md, /\n1\. one\n2\. two\n/);
    assert.match(md, /\n> quoted\n/);
    assert.match(md, /```rust\nfn main\(\) \{\}\n```\n$/);
    assert.deepStrictEqual(errors, []);
    await close();
  });

  test('(b) a Markdown import appears live in the open page', async () => {
    const name = uniqueName('imported');
    const { page, errors, close } = await openEditor(name);
    await page.click('.ProseMirror');
    await page.keyboard.type('typed first', { delay: 5 });
    await waitFor(async () => (await (await api(`/documents/${encodeURIComponent(name)}/content?type=markdown`)).text()) === 'typed first\n', { ...T, what: 'typing to reach the server' });
    const res = await api(`/documents/${encodeURIComponent(name)}/content?type=markdown`, {
      method: 'PUT',
      headers: { 'content-type': 'text/markdown' },
      body: '# Imported\n\nWith **bold** and a [link](https://weft.test).\n\n- one\n- two\n',
    });
    assert.equal(res.status, 200, await res.clone().text());
    await waitFor(async () => (await page.evaluate(() => window.weft.editor.getHTML())).includes('<h1>Imported</h1>'), { ...T, what: 'the import in the page' });
    const html = await page.evaluate(() => window.weft.editor.getHTML());
    assert.match(html, /<strong>bold<\/strong>/);
    assert.match(html, /<a [^>]*href="https:\/\/weft\.test"/);
    assert.match(html, /<ul><li><p>one<\/p><\/li><li><p>two<\/p><\/li><\/ul>/);
    assert.ok(!html.includes('typed first'), 'a PUT replaces');
    // POST appends, live too.
    await api(`/documents/${encodeURIComponent(name)}/content?type=markdown`, { method: 'POST', headers: { 'content-type': 'text/markdown' }, body: 'Appended line\n' });
    await waitFor(async () => (await page.evaluate(() => window.weft.editor.getText())).includes('Appended line'), { ...T, what: 'the append in the page' });
    assert.deepStrictEqual(errors, []);
    await close();
  });
});
