// Access tokens with the stock y-websocket provider: `params: { token }` becomes the `token`
// query parameter. A write token syncs; a read token gets the document and live updates but its
// edits are refused (permission denied) and never reach others; no token is refused (HTTP 401).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import {
  startServer, waitSynced, waitFor, randomRoom, rawSocket, sleep, IS_REFERENCE, WEFT_BIN,
  Y, WebsocketProvider, WebSocket, destroyClient
} from '../lib/harness.mjs'

const SECRET = 'node black-box secret, at least 32 bytes'
const skip = IS_REFERENCE && 'the reference server has no access tokens'

function mint (doc, access, ttl = '1h') {
  return execFileSync(WEFT_BIN, ['token', '--doc', doc, '--access', access, '--ttl', ttl], {
    encoding: 'utf8', env: { PATH: process.env.PATH, WEFT_AUTH_SECRET: SECRET }
  }).trim()
}

function tokenClient (t, server, room, token) {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(server.serverUrl, room, doc, {
    WebSocketPolyfill: WebSocket, disableBc: true, maxBackoffTime: 500, params: { token }
  })
  const denied = []
  // y-websocket calls this for an auth permission-denied message.
  provider.on('connection-error', () => {})
  const c = { doc, provider, awareness: provider.awareness, room, denied, closeEvents: [] }
  t.after(() => destroyClient(c))
  return c
}

test('tokens: write and read tokens via params, read-only edits refused, no token 401', { timeout: 60000, skip }, async (t) => {
  const server = await startServer(t, { args: { extra: ['--auth-secret', SECRET] } })
  const room = randomRoom('auth')

  const noToken = rawSocket(t, server.wsUrl(room))
  await assert.rejects(noToken.opened, (e) => e.statusCode === 401)
  const wrongDoc = rawSocket(t, `${server.wsUrl(room)}?token=${mint('elsewhere', 'write')}`)
  await assert.rejects(wrongDoc.opened, (e) => e.statusCode === 403)

  const writer = tokenClient(t, server, room, mint('auth-*', 'write'))
  const reader = tokenClient(t, server, room, mint(room, 'read'))
  await Promise.all([waitSynced(writer), waitSynced(reader)])

  writer.doc.getText('t').insert(0, 'from writer')
  await waitFor(() => reader.doc.getText('t').toString() === 'from writer', { what: 'reader to receive the writer\'s edit' })

  // The read-only client edits locally; the server refuses it.
  const warnings = []
  const origWarn = console.warn
  console.warn = (...a) => { warnings.push(a.join(' ')) }
  t.after(() => { console.warn = origWarn })
  reader.doc.getText('t').insert(0, 'READER ')
  await waitFor(() => warnings.some((w) => /Permission denied/i.test(w)), { timeout: 5000, what: 'permission-denied message at the read-only client' })
  console.warn = origWarn

  writer.doc.getText('t').insert(writer.doc.getText('t').length, '!')
  await waitFor(() => reader.doc.getText('t').toString().includes('!'), { what: 'reader to keep receiving' })
  await sleep(300)
  assert.equal(writer.doc.getText('t').toString(), 'from writer!')
  assert.ok(reader.provider.wsconnected, 'read-only client stays connected')

  // Awareness from the read-only client reaches the writer.
  reader.awareness.setLocalStateField('user', { name: 'viewer' })
  await waitFor(() => writer.awareness.getStates().get(reader.doc.clientID)?.user?.name === 'viewer', { what: 'viewer presence at the writer' })

  // A fresh client sees nothing of the reader's edit: it was never stored.
  const fresh = tokenClient(t, server, room, mint(room, 'write'))
  await waitSynced(fresh)
  assert.equal(fresh.doc.getText('t').toString(), 'from writer!')
})
