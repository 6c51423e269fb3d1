// The editor-integration pages (issue 8): /monaco/{name}, /quill/{name}, /data/{name}.
// Each test opens the same document in two browser contexts (two users), edits in
// both, also at the same time, and checks that the two pages end up identical.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  ensureArtifacts, launchBrowser, newUserContext, pageUrl, startBackend, uniqueName, waitFor,
} from './harness.mjs';

const T = { timeout: 20000 };
let backend;
let browser;

before(async () => {
  backend = await startBackend();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await backend?.stop();
});

const waitStatus = (page, state) =>
  waitFor(async () => (await page.evaluate(() => document.querySelector('[data-testid=status]')?.dataset.state)) === state, { ...T, what: `status ${state}` });

function watchErrors(page, errors) {
  page.on('pageerror', (e) => errors.push(`${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/WebSocket|ERR_INTERNET_DISCONNECTED|Failed to load resource/.test(m.text())) errors.push(m.text());
  });
}

/** Two users on the same document path; returns their pages (connected) and a cleanup. */
async function twoUsers(path, ready) {
  const ctxA = await newUserContext(browser, { name: 'Ada Alpha', color: '#e03131' });
  const ctxB = await newUserContext(browser, { name: 'Ben Beta', color: '#1971c2' });
  const errors = [];
  const open = async (ctx) => {
    const p = await ctx.newPage();
    watchErrors(p, errors);
    await p.goto(pageUrl(backend, path));
    await p.waitForSelector(ready, T);
    await waitStatus(p, 'connected');
    return p;
  };
  const a = await open(ctxA);
  const b = await open(ctxB);
  return { a, b, errors, close: async () => { await ctxA.close(); await ctxB.close(); } };
}

/** Wait until `read` gives the same (non-null) JSON on both pages; returns it. */
async function converge(a, b, read, what) {
  let last;
  await waitFor(async () => {
    last = [JSON.stringify(await read(a)), JSON.stringify(await read(b))];
    return last[0] !== undefined && last[0] !== 'null' && last[0] === last[1];
  }, { ...T, what }).catch((e) => {
    throw new Error(`${e.message}\nA: ${last?.[0]}\nB: ${last?.[1]}`);
  });
  return JSON.parse(last[0]);
}

async function sideBySide(a, b, file) {
  const [sa, sb] = [await a.screenshot(), await b.screenshot()];
  const composer = await a.context().newPage();
  await composer.setViewportSize({ width: 1816, height: 700 });
  await composer.setContent(`<body style="margin:0;display:flex;gap:16px;background:#868e96">
    <img src="data:image/png;base64,${sa.toString('base64')}"><img src="data:image/png;base64,${sb.toString('base64')}"></body>`);
  await composer.waitForFunction(() => [...document.images].every((i) => i.complete && i.naturalWidth > 0));
  await composer.screenshot({ path: join(ensureArtifacts(), file) });
  await composer.close();
}

describe('monaco page', () => {
  test('two users edit /monaco/{name} (y-monaco on Y.Text "monaco") and converge, with remote cursors', async () => {
    const { a, b, errors, close } = await twoUsers(`/monaco/${uniqueName('e2e-monaco')}.js`, '.monaco-editor .view-lines');
    try {
      // What the page shows (Monaco's model, from the window.weft handle) and what Yjs holds.
      const read = (p) => p.evaluate(() => ({ model: window.weft.editor.getValue(), ytext: window.weft.ydoc.getText('monaco').toString() }));
      const type = async (p, text, where = 'Control+End') => {
        await p.click('.monaco-editor .view-lines');
        await p.keyboard.press(where);
        await p.keyboard.type(text, { delay: 5 });
      };
      await type(a, 'let fromA = 1;\n');
      await waitFor(async () => (await read(b)).model.includes('let fromA = 1;'), { ...T, what: 'B sees A' });
      await type(b, '// by Ben\n');
      await waitFor(async () => (await read(a)).model.includes('// by Ben'), { ...T, what: 'A sees B' });
      // Both at once (at different places: typing at the same spot would interleave the characters).
      await Promise.all([type(a, 'const x = 2;\n', 'Control+Home'), type(b, 'const y = 3;')]);
      const both = await converge(a, b, read, 'monaco pages converge');
      assert.equal(both.model, both.ytext);
      for (const s of ['let fromA = 1;', '// by Ben', 'const x = 2;', 'const y = 3;']) assert.ok(both.model.includes(s), `has ${s}: ${JSON.stringify(both.model)}`);
      // The DOM shows it too (Monaco renders spaces as U+00A0).
      const shown = await b.evaluate(() => document.querySelector('.monaco-editor .view-lines').textContent.replace(/\u00a0/g, ' '));
      assert.ok(shown.includes('let fromA = 1;') && shown.includes('// by Ben'), shown);
      // JS highlighting is on (Monarch tokens), and each sees the other's caret with a name.
      assert.equal(await a.evaluate(() => window.weft.editor.getModel().getLanguageId()), 'javascript');
      const caretName = (p) => p.evaluate(() => {
        const el = document.querySelector('.yRemoteSelectionHead');
        return el ? getComputedStyle(el, '::after').content : null;
      });
      await waitFor(async () => (await caretName(a)) === '"Ben Beta"', { ...T, what: 'A sees Ben\'s caret' });
      await waitFor(async () => (await caretName(b)) === '"Ada Alpha"', { ...T, what: 'B sees Ada\'s caret' });
      await sideBySide(a, b, 'monaco.png');
      assert.deepEqual(errors, []);
    } finally {
      await close();
    }
  });
});

describe('quill page', () => {
  test('two users edit /quill/{name} (y-quill on Y.Text "quill") and converge, with quill-cursors', async () => {
    const { a, b, errors, close } = await twoUsers(`/quill/${uniqueName('e2e-quill')}`, '.ql-editor');
    try {
      // The rendered editor (DOM) and Quill's delta; the Y.Text's delta must match Quill's.
      const read = (p) => p.evaluate(() => ({
        html: document.querySelector('.ql-editor').innerHTML,
        delta: window.weft.editor.getContents().ops,
      }));
      const typeAtEnd = async (p, text) => {
        await p.evaluate(() => window.weft.editor.setSelection(window.weft.editor.getLength(), 0));
        await p.keyboard.type(text, { delay: 5 });
      };
      await a.click('.ql-editor');
      await typeAtEnd(a, 'Hello from Ada.');
      await waitFor(async () => (await read(b)).html.includes('Hello from Ada.'), { ...T, what: 'B sees A' });
      // Formatting through Quill's toolbar travels as Y.Text attributes.
      await b.click('.ql-editor');
      await typeAtEnd(b, ' ');
      await b.click('.ql-toolbar button.ql-bold');
      await b.keyboard.type('Bold Ben', { delay: 5 });
      await waitFor(async () => (await read(a)).html.includes('<strong>Bold Ben</strong>'), { ...T, what: 'A sees bold' });
      await Promise.all([typeAtEnd(a, ' [A again]'), typeAtEnd(b, ' [B again]')]);
      const both = await converge(a, b, read, 'quill pages converge');
      for (const s of ['Hello from Ada.', 'Bold Ben', '[A again]', '[B again]']) assert.ok(both.html.includes(s), `has ${s}`);
      const ydelta = await a.evaluate(() => window.weft.ydoc.getText('quill').toDelta());
      const text = (ops) => ops.map((o) => o.insert).join('').replace(/\n$/, '');
      assert.equal(text(ydelta), text(both.delta));
      assert.ok(ydelta.some((o) => o.insert.startsWith('Bold Ben') && o.attributes?.bold === true), JSON.stringify(ydelta));
      // Remote cursors (quill-cursors flags carry the other user's name).
      const flag = (p, name) => waitFor(() => p.evaluate((n) => [...document.querySelectorAll('.ql-cursor-name')].some((e) => e.textContent === n), name), { ...T, what: `cursor ${name}` });
      await flag(a, 'Ben Beta');
      await flag(b, 'Ada Alpha');
      await sideBySide(a, b, 'quill.png');
      assert.deepEqual(errors, []);
    } finally {
      await close();
    }
  });
});

describe('data page', () => {
  test('two users share a to-do list on /data/{name} (Y.Array "todos" + Y.Map "settings") and converge', async () => {
    const { a, b, errors, close } = await twoUsers(`/data/${uniqueName('e2e-data')}`, '[data-testid=todo-new]');
    try {
      // Read the list from the DOM.
      const read = (p) => p.evaluate(() => ({
        title: document.querySelector('[data-testid=todo-title]').value,
        items: [...document.querySelectorAll('[data-testid=todo-item]')].map((li) => ({
          text: li.querySelector('[data-testid=todo-text]').value,
          done: li.querySelector('[data-testid=todo-done]').checked,
        })),
      }));
      const add = async (p, text) => {
        await p.fill('[data-testid=todo-new]', text);
        await p.click('[data-testid=todo-add]');
      };
      /** The row whose text field holds `text` (values are properties, not attributes: look them up). */
      const item = async (p, text) => {
        const id = await p.evaluate((t) => [...document.querySelectorAll('[data-testid=todo-item]')]
          .find((li) => li.querySelector('[data-testid=todo-text]').value === t)?.dataset.id, text);
        assert.ok(id, `no item "${text}"`);
        return p.locator(`[data-testid=todo-item][data-id="${id}"]`);
      };
      const waitItems = (p, pred, what) => waitFor(async () => pred((await read(p)).items.map((i) => i.text)), { ...T, what });

      await a.fill('[data-testid=todo-title]', 'Release checklist');
      await a.press('[data-testid=todo-title]', 'Enter');
      await add(a, 'write notes');
      await add(a, 'tag release');
      await waitItems(b, (t) => t.includes('tag release'), 'B sees A\'s items');
      assert.equal((await read(b)).title, 'Release checklist');

      await add(b, 'announce');
      await (await item(b, 'write notes')).locator('[data-testid=todo-done]').check();
      await waitFor(async () => (await read(a)).items.find((i) => i.text === 'write notes')?.done === true, { ...T, what: 'A sees the toggle' });
      // Rename on A, delete on B.
      const renamed = (await item(a, 'tag release')).locator('[data-testid=todo-text]');
      await renamed.fill('tag v1.0');
      await renamed.press('Enter'); // Enter blurs the field; its change event writes the Y.Map
      await waitItems(b, (t) => t.includes('tag v1.0'), 'B sees the rename');
      await (await item(b, 'announce')).locator('[data-testid=todo-delete]').click();
      await waitItems(a, (t) => !t.includes('announce'), 'A sees the delete');
      // Both add at the same time.
      await Promise.all([add(a, 'from A'), add(b, 'from B')]);
      const both = await converge(a, b, read, 'to-do lists converge');
      assert.equal(both.title, 'Release checklist');
      assert.deepEqual(both.items.map((i) => i.text).slice(0, 2), ['write notes', 'tag v1.0']);
      assert.deepEqual(both.items.map((i) => i.text).slice(2).sort(), ['from A', 'from B']);
      assert.deepEqual(both.items.map((i) => i.done), [true, false, false, false]);
      // The DOM is rendered from the Yjs types: same as the model.
      const model = await b.evaluate(() => window.weft.board());
      assert.deepEqual(model.todos.map(({ text, done }) => ({ text, done })), both.items);
      assert.equal(await b.textContent('[data-testid=todo-count]'), '3 of 4 left');
      await sideBySide(a, b, 'data.png');
      assert.deepEqual(errors, []);
    } finally {
      await close();
    }
  });
});

describe('document list links', () => {
  test('the list links to every editor page, and a new page kind is remembered in Recent', async () => {
    const ctx = await newUserContext(browser, { name: 'Lia Links', color: '#2f9e44' });
    try {
      const page = await ctx.newPage();
      await page.goto(pageUrl(backend, '/'));
      for (const kind of ['doc', 'code', 'monaco', 'quill', 'data']) {
        const href = await page.getAttribute(`[data-testid=editor-link-${kind}]`, 'href');
        assert.match(href, new RegExp(`^/${kind === 'doc' ? 'd' : kind}/doc-[a-z0-9]{6}`), `${kind}: ${href}`);
      }
      await Promise.all([page.waitForURL((u) => u.pathname.startsWith('/quill/')), page.click('[data-testid=editor-link-quill]')]);
      await page.waitForSelector('.ql-editor', T);
      await waitStatus(page, 'connected');
      // Its share menu offers the same name in the other editors.
      const others = await page.$$eval('[data-testid=other-editors] a', (as) => as.map((a) => a.dataset.kind));
      assert.deepEqual(others, ['doc', 'code', 'monaco', 'data']);
      await page.click('.brand');
      await page.waitForSelector('[data-testid=recent] .recent-link');
      assert.match(await page.getAttribute('[data-testid=recent] .recent-link', 'href'), /^\/quill\//);
    } finally {
      await ctx.close();
    }
  });
});
