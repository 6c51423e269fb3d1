import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  startServer, rawSocket, makeClient, waitSynced, waitFor, randomRoom, destroyClient, WebsocketProvider, WebSocket, Y, IS_REFERENCE
} from '../lib/harness.mjs'

const INVALID = [
  ['a space (a%20b)', 'a%20b'],
  ['300 characters', 'x'.repeat(300)],
  ['257 characters', 'y'.repeat(257)],
  ['invalid UTF-8 (%ff)', '%ff'],
  ['a percent-encoded NUL (%00)', 'a%00b']
]

test('invalid document names are refused with HTTP 400 before the upgrade', {
  timeout: 30000,
  skip: IS_REFERENCE && 'the reference server accepts any room name'
}, async (t) => {
  const server = await startServer(t)
  const failures = []
  for (const [what, name] of INVALID) {
    const r = rawSocket(t, server.wsUrl(name))
    try {
      await r.opened
      failures.push(`${what} (/ws/${name.slice(0, 20)}...): upgrade was accepted`)
      r.ws.terminate()
    } catch (e) {
      if (r.httpStatus !== 400) failures.push(`${what}: expected HTTP 400, got ${r.httpStatus ?? e.message}`)
    }
  }
  assert.deepEqual(failures, [])
})

test('valid document names with every allowed character class, up to 256 bytes, are accepted', { timeout: 30000 }, async (t) => {
  const server = await startServer(t)
  const suffix = randomRoom('n')
  const names = [
    `Az09-_.~/nested/${suffix}`,
    `${suffix}-` + 'z'.repeat(256 - suffix.length - 1), // exactly 256 bytes
    `pct%2Dencoded-${suffix}` // %2D is '-', allowed after decoding
  ]
  assert.equal(names[1].length, 256)
  for (const name of names) {
    const r = rawSocket(t, server.wsUrl(name))
    await r.opened.catch((e) => assert.fail(`valid name ${name} refused: ${r.httpStatus ?? e.message}`))
    r.ws.terminate()
  }
  // And a provider can actually use a name with slashes and dots.
  const a = makeClient(t, server, names[0])
  const b = makeClient(t, server, names[0])
  await Promise.all([waitSynced(a), waitSynced(b)])
  a.doc.getText('t').insert(0, 'ok')
  await waitFor(() => b.doc.getText('t').toString() === 'ok', { timeout: 10000, what: 'sync on a nested name' })
})

test('the query string is not part of the document name (provider `params`, e.g. auth tokens)', { timeout: 30000 }, async (t) => {
  const server = await startServer(t)
  const room = randomRoom('params')
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(server.serverUrl, room, doc, { WebSocketPolyfill: WebSocket, disableBc: true, params: { token: 'abc def', v: '1' } })
  const withParams = { doc, provider, awareness: provider.awareness, closeEvents: [], room }
  t.after(() => destroyClient(withParams))
  const plain = makeClient(t, server, room)
  await Promise.all([waitSynced(withParams), waitSynced(plain)])
  withParams.doc.getText('t').insert(0, 'same document')
  await waitFor(() => plain.doc.getText('t').toString() === 'same document', { timeout: 10000, what: 'a provider with ?params and one without to share the document' })
})
