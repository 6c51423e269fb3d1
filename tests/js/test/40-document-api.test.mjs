// The document HTTP API with the real yjs / y-websocket client: what a y-websocket editor
// writes is readable as JSON over HTTP, an update POSTed over HTTP arrives at the editor,
// restoring a version brings live editors back to it, and the OpenAPI description validates.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { validate } from '@readme/openapi-parser'
import { startServer, makeClient, waitSynced, waitFor, randomRoom, IS_REFERENCE, Y } from '../lib/harness.mjs'

const skip = IS_REFERENCE && 'the reference server has no document API'

async function api (server, method, path, body, type = 'application/json') {
  const init = { method, headers: {} }
  if (body !== undefined) {
    init.body = type === 'application/json' ? JSON.stringify(body) : body
    init.headers['content-type'] = type
  }
  const res = await fetch(`${server.httpBase}/api/v1${path}`, init)
  const ctype = res.headers.get('content-type') || ''
  const data = ctype.includes('json') ? await res.json() : Buffer.from(await res.arrayBuffer())
  return { status: res.status, data }
}

test('OpenAPI description validates', { skip }, async (t) => {
  const server = await startServer(t)
  const res = await fetch(`${server.httpBase}/api/v1/openapi.json`)
  assert.equal(res.status, 200)
  const spec = await res.json()
  const result = await validate(spec)
  assert.ok(result.valid, JSON.stringify(result.errors, null, 2))
  assert.ok(spec.paths['/api/v1/documents/{name}/versions/{id}/restore'], 'restore is described')
})

test('y-websocket edits are readable over HTTP and HTTP updates reach y-websocket', { timeout: 60000, skip }, async (t) => {
  const server = await startServer(t)
  const room = randomRoom('api')
  const created = await api(server, 'POST', '/documents', { name: room })
  assert.equal(created.status, 201)
  const editor = makeClient(t, server, room)
  await waitSynced(editor)
  editor.doc.getText('body').insert(0, 'Hello from the editor')
  editor.doc.getMap('meta').set('title', 'Notes')
  let content
  await waitFor(async () => {
    content = (await api(server, 'GET', `/documents/${room}/content`)).data
    return content.body === 'Hello from the editor' && content.meta?.title === 'Notes'
  }, { what: 'the editor\'s content over HTTP' })
  assert.deepEqual(content, { body: 'Hello from the editor', meta: { title: 'Notes' } })

  // A backend: load the state over HTTP, edit with yjs, post the update.
  const state = await api(server, 'GET', `/documents/${room}/update`)
  assert.equal(state.status, 200)
  const backend = new Y.Doc()
  Y.applyUpdate(backend, new Uint8Array(state.data))
  const before = Y.encodeStateVector(backend)
  backend.getText('body').insert(backend.getText('body').length, ', and from a backend')
  const update = Y.encodeStateAsUpdate(backend, before)
  const posted = await api(server, 'POST', `/documents/${room}/update`, update, 'application/octet-stream')
  assert.deepEqual([posted.status, posted.data], [200, { applied: true }])
  await waitFor(() => editor.doc.getText('body').toString() === 'Hello from the editor, and from a backend',
    { what: 'the HTTP update at the y-websocket editor' })
  const text = await fetch(`${server.httpBase}/api/v1/documents/${room}/content?type=text&key=body`)
  assert.equal(await text.text(), 'Hello from the editor, and from a backend')
})

test('restoring a version brings live y-websocket editors back to it', { timeout: 60000, skip }, async (t) => {
  const server = await startServer(t)
  const room = randomRoom('restore')
  const a = makeClient(t, server, room)
  const b = makeClient(t, server, room)
  await Promise.all([waitSynced(a), waitSynced(b)])
  a.doc.getText('t').insert(0, 'first draft')
  await waitFor(() => b.doc.getText('t').toString() === 'first draft', { what: 'b to see the draft' })
  await waitFor(async () => (await api(server, 'GET', `/documents/${room}`)).status === 200, { what: 'the document to be stored' })
  const saved = await api(server, 'POST', `/documents/${room}/versions`, { label: 'draft' })
  assert.equal(saved.status, 201)
  b.doc.getText('t').insert(0, 'REWRITTEN ')
  a.doc.getArray('extra').push(['x'])
  await waitFor(() => a.doc.getText('t').toString() === 'REWRITTEN first draft', { what: 'a to see the rewrite' })
  await waitFor(() => b.doc.getArray('extra').length === 1, { what: 'b to see a\'s array edit' })
  const restored = await api(server, 'POST', `/documents/${room}/versions/${saved.data.id}/restore`)
  assert.equal(restored.status, 200)
  for (const c of [a, b]) {
    await waitFor(() => c.doc.getText('t').toString() === 'first draft' && c.doc.getArray('extra').length === 0,
      { what: 'a live editor to converge to the restored version' })
  }
  assert.equal(a.provider.wsconnected && b.provider.wsconnected, true, 'no reconnect')
})
