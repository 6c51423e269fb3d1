// Rich content over HTTP with the real y-prosemirror: for a corpus of Tiptap documents built
// with y-prosemirror, GET .../content?type=prosemirror deep-equals yXmlFragmentToProsemirrorJSON;
// Markdown, HTML and ProseMirror JSON written with PUT / POST reach a connected y-websocket
// client live, and bad ProseMirror JSON is refused with the JSON path where it fails.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { getSchema } from '@tiptap/core'
import StarterKit from '@tiptap/starter-kit'
import { TaskList, TaskItem } from '@tiptap/extension-list'
import Image from '@tiptap/extension-image'
import { prosemirrorJSONToYXmlFragment, yXmlFragmentToProsemirrorJSON } from 'y-prosemirror'
import { startServer, makeClient, waitSynced, waitFor, randomRoom, IS_REFERENCE, Y } from '../lib/harness.mjs'

const skip = IS_REFERENCE && 'the reference server has no document API'
const schema = getSchema([StarterKit, TaskList, TaskItem, Image])

const tx = (text, ...marks) => ({ type: 'text', text, ...(marks.length ? { marks } : {}) })
const p = (...content) => ({ type: 'paragraph', content })
const bold = { type: 'bold' }
const italic = { type: 'italic' }
const link = (href) => ({ type: 'link', attrs: { href } })

const CORPUS = [
  [p(tx('Hello world'))],
  [{ type: 'heading', attrs: { level: 1 }, content: [tx('Title')] }, { type: 'heading', attrs: { level: 3 }, content: [tx('Small')] }],
  [p(tx('plain '), tx('bold', bold), tx(' '), tx('both', bold, italic), tx(' '), tx('under', { type: 'underline' }), tx(' '), tx('struck', { type: 'strike' }), tx(' '), tx('code', { type: 'code' }))],
  [p(tx('a '), tx('link', link('https://example.com')), tx(' and '), tx('bold link', link('https://b.test'), bold))],
  [p(tx('bold then '), tx('bold italic', bold, italic), tx(' italic', italic))],
  [{ type: 'bulletList', content: [{ type: 'listItem', content: [p(tx('one'))] }, { type: 'listItem', content: [p(tx('two')), { type: 'bulletList', content: [{ type: 'listItem', content: [p(tx('nested'))] }] }] }] }],
  [{ type: 'orderedList', attrs: { start: 3 }, content: [{ type: 'listItem', content: [p(tx('three'))] }] }],
  [{ type: 'taskList', content: [{ type: 'taskItem', attrs: { checked: true }, content: [p(tx('done'))] }, { type: 'taskItem', attrs: { checked: false }, content: [p(tx('todo'))] }] }],
  [{ type: 'blockquote', content: [p(tx('quoted'))] }],
  [{ type: 'codeBlock', attrs: { language: 'rust' }, content: [tx('fn main() {}\n  // two lines')] }, { type: 'codeBlock', content: [tx('no language')] }],
  [p(tx('line one'), { type: 'hardBreak' }, tx('line two')), { type: 'horizontalRule' }, p()],
  [{ type: 'image', attrs: { src: 'https://img.test/a.png', alt: 'an image', title: 'A title' } }],
  [p(tx('emoji 👋🏽 and ünïcödé'))]
]

async function api (server, method, path, body, type) {
  const init = { method, headers: {} }
  if (body !== undefined) {
    init.body = body
    init.headers['content-type'] = type
  }
  const res = await fetch(`${server.httpBase}/api/v1${path}`, init)
  const ctype = res.headers.get('content-type') || ''
  const data = ctype.includes('json') ? await res.json() : await res.text()
  return { status: res.status, data, ctype }
}

test('GET content?type=prosemirror equals y-prosemirror for a corpus', { timeout: 60000, skip }, async (t) => {
  const server = await startServer(t)
  for (const [i, content] of CORPUS.entries()) {
    const room = randomRoom(`pm${i}`)
    assert.equal((await api(server, 'POST', '/documents', JSON.stringify({ name: room }), 'application/json')).status, 201)
    const editor = makeClient(t, server, room)
    await waitSynced(editor)
    const fragment = editor.doc.getXmlFragment('default')
    prosemirrorJSONToYXmlFragment(schema, { type: 'doc', content }, fragment)
    const want = pmJSON(fragment)
    await waitFor(async () => {
      const got = await api(server, 'GET', `/documents/${room}/content?type=prosemirror`)
      return got.status === 200 && isEqual(got.data, want)
    }, { timeout: 10000, what: `document ${i} to arrive` }).catch(() => {})
    const got = await api(server, 'GET', `/documents/${room}/content?type=prosemirror`)
    assert.equal(got.status, 200)
    assert.deepStrictEqual(got.data, want, `corpus document ${i}`)
    // Later edits through y-prosemirror's own paths (formatting existing text) too.
    editor.doc.transact(() => {
      const text = fragment.get(0).get?.(0)
      if (text instanceof Y.XmlText && text.length > 2) text.format(0, 2, { italic: {} })
    })
    const want2 = pmJSON(fragment)
    await waitFor(async () => isEqual((await api(server, 'GET', `/documents/${room}/content?type=prosemirror`)).data, want2),
      { timeout: 10000, what: `edited document ${i}` })
    const md = await api(server, 'GET', `/documents/${room}/content?type=markdown`)
    assert.equal(md.status, 200)
    assert.match(md.ctype, /text\/markdown/)
  }
})

// As JSON (ProseMirror gives mark attrs null-prototype objects; the wire has none).
const pmJSON = (fragment) => JSON.parse(JSON.stringify(yXmlFragmentToProsemirrorJSON(fragment)))

function isEqual (a, b) {
  try { assert.deepStrictEqual(a, b); return true } catch { return false }
}

test('PUT and POST content reach a connected client live', { timeout: 60000, skip }, async (t) => {
  const server = await startServer(t)
  const room = randomRoom('import')
  assert.equal((await api(server, 'POST', '/documents', JSON.stringify({ name: room }), 'application/json')).status, 201)
  const editor = makeClient(t, server, room)
  await waitSynced(editor)
  const fragment = editor.doc.getXmlFragment('default')

  let r = await api(server, 'PUT', `/documents/${room}/content?type=markdown`, '# Imported\n\n- [x] **done**\n', 'text/markdown')
  assert.equal(r.status, 200, JSON.stringify(r.data))
  await waitFor(() => fragment.length === 2, { what: 'markdown import to arrive' })
  const json = pmJSON(fragment)
  assert.equal(json.content[0].type, 'heading')
  assert.equal(json.content[1].type, 'taskList')
  assert.deepStrictEqual((await api(server, 'GET', `/documents/${room}/content?type=prosemirror`)).data, json)
  // What the client sees is a valid Tiptap document.
  schema.nodeFromJSON(json).check()

  r = await api(server, 'POST', `/documents/${room}/content?type=html`, '<p>from <em>html</em></p>', 'text/html')
  assert.equal(r.status, 200)
  await waitFor(() => fragment.length === 3, { what: 'html append to arrive' })
  const pm = { type: 'doc', content: [p(tx('from json', bold))] }
  r = await api(server, 'POST', `/documents/${room}/content?type=prosemirror`, JSON.stringify(pm), 'application/json')
  assert.equal(r.status, 200)
  await waitFor(() => fragment.length === 4, { what: 'json append to arrive' })
  assert.deepStrictEqual(yXmlFragmentToProsemirrorJSON(fragment).content[3], { type: 'paragraph', content: [{ type: 'text', text: 'from json', marks: [{ type: 'bold', attrs: {} }] }] })

  const md = await api(server, 'GET', `/documents/${room}/content?type=markdown`)
  assert.equal(md.data, '# Imported\n\n- [x] **done**\n\nfrom *html*\n\n**from json**\n')

  // A replace took a version of what it replaced first.
  r = await api(server, 'PUT', `/documents/${room}/content?type=markdown`, 'replaced\n', 'text/markdown')
  assert.equal(r.status, 200)
  await waitFor(() => fragment.length === 1, { what: 'replace to arrive' })
  const versions = await api(server, 'GET', `/documents/${room}/versions`)
  assert.ok(versions.data.versions.some((v) => v.label === 'before content import'))

  const bad = { type: 'doc', content: [p(tx('ok')), p(tx('x', { attrs: {} }))] }
  r = await api(server, 'PUT', `/documents/${room}/content?type=prosemirror`, JSON.stringify(bad), 'application/json')
  assert.equal(r.status, 400)
  assert.match(r.ctype, /application\/problem\+json/)
  assert.match(r.data.detail, /content\[1\]\.content\[0\]\.marks\[0\]\.type/)
  r = await api(server, 'PUT', `/documents/${room}/content?type=docx`, 'x', 'text/plain')
  assert.equal(r.status, 400)

  // Plain text into a Y.Text.
  r = await api(server, 'PUT', `/documents/${room}/content?type=text&key=notes`, 'plain words', 'text/plain')
  assert.equal(r.status, 200)
  await waitFor(() => editor.doc.getText('notes').toString() === 'plain words', { what: 'text import' })
})
