import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  startServer, makeClient, waitSynced, waitFor, randomRoom, killClientSocket, rawSocket, sleep,
  queryAwarenessMessage, decodeMessage, decodeAwarenessUpdate, MSG_AWARENESS, IS_REFERENCE
} from '../lib/harness.mjs'

const userOf = (observer, clientID) => observer.awareness.getStates().get(clientID)?.user

test('awareness: state arrives, graceful leave and abrupt socket loss are both broadcast', { timeout: 60000 }, async (t) => {
  const server = await startServer(t)
  const room = randomRoom('awareness')
  const observer = makeClient(t, server, room)
  const graceful = makeClient(t, server, room)
  const abrupt = makeClient(t, server, room)
  await Promise.all([waitSynced(observer), waitSynced(graceful), waitSynced(abrupt)])

  graceful.awareness.setLocalStateField('user', { name: 'graceful', color: '#f00' })
  abrupt.awareness.setLocalStateField('user', { name: 'abrupt', color: '#0f0' })
  const gid = graceful.doc.clientID
  const aid = abrupt.doc.clientID
  await waitFor(() => userOf(observer, gid)?.name === 'graceful' && userOf(observer, aid)?.name === 'abrupt', {
    timeout: 10000, what: () => `observer to see both users; has ${JSON.stringify([...observer.awareness.getStates()])}`
  })
  // An update of an existing state also propagates.
  graceful.awareness.setLocalStateField('user', { name: 'graceful', color: '#00f' })
  await waitFor(() => userOf(observer, gid)?.color === '#00f', { timeout: 10000, what: 'updated awareness state' })

  // Graceful leave: the provider sends a null state and closes the socket.
  graceful.provider.destroy()
  await waitFor(() => !observer.awareness.getStates().has(gid), { timeout: 5000, what: 'graceful leaver to be removed at observer' })
  assert.ok(observer.awareness.getStates().has(aid), 'the other client must still be present')

  // Abrupt leave: kill the TCP socket; no goodbye message is sent. The server must notice the
  // closed connection and broadcast the removal well before the 30 s awareness timeout.
  const t0 = Date.now()
  killClientSocket(abrupt)
  await waitFor(() => !observer.awareness.getStates().has(aid), { timeout: 5000, what: 'abruptly disconnected client to be removed at observer within 5 s' })
  t.diagnostic(`abrupt removal after ${Date.now() - t0} ms`)
  assert.ok(observer.awareness.getStates().has(observer.doc.clientID))
})

test('query-awareness (message type 3) on a raw socket returns the current states', {
  timeout: 30000,
  skip: IS_REFERENCE && 'the reference server ignores messageQueryAwareness'
}, async (t) => {
  const server = await startServer(t)
  const room = randomRoom('qawareness')
  const a = makeClient(t, server, room)
  const b = makeClient(t, server, room)
  await Promise.all([waitSynced(a), waitSynced(b)])
  a.awareness.setLocalStateField('user', { name: 'alice' })
  b.awareness.setLocalStateField('user', { name: 'bob' })
  await waitFor(() => userOf(a, b.doc.clientID)?.name === 'bob' && userOf(b, a.doc.clientID)?.name === 'alice', { timeout: 10000, what: 'a and b to see each other' })

  const raw = rawSocket(t, server.wsUrl(room))
  await raw.opened
  // Let the on-connect messages (sync step 1, possibly the current awareness) arrive, then forget them.
  await waitFor(() => raw.messages.length > 0, { timeout: 5000, what: 'first message from server' })
  await sleep(300)
  raw.messages.length = 0

  await raw.send(queryAwarenessMessage())
  const states = new Map()
  await waitFor(() => {
    for (const m of raw.messages) {
      const msg = decodeMessage(m.data)
      if (msg.type === MSG_AWARENESS) for (const s of decodeAwarenessUpdate(msg.payload)) states.set(s.clientID, s.state)
    }
    raw.messages.length = 0
    return states.get(a.doc.clientID)?.user?.name === 'alice' && states.get(b.doc.clientID)?.user?.name === 'bob'
  }, { timeout: 5000, what: () => `awareness reply to query-awareness containing alice and bob; got ${JSON.stringify([...states])}` })
  assert.equal(raw.closeInfo, null, 'the raw socket must stay open')
})
