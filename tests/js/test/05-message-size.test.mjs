import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  startServer, makeClient, waitSynced, waitFor, randomRoom, rawSocket, waitClosed, updateMessage,
  supportsFlag, randomText, IS_REFERENCE, Y
} from '../lib/harness.mjs'

const LIMIT = 65536

test('a message bigger than --max-message-size closes that session with 1009; others keep working', {
  timeout: 60000,
  skip: (IS_REFERENCE && 'the reference server has no --max-message-size') ||
    (!supportsFlag('--max-message-size') && 'this Weft build has no --max-message-size flag')
}, async (t) => {
  const server = await startServer(t, { args: { maxMessageSize: LIMIT } })
  const room = randomRoom('oversize')
  const a = makeClient(t, server, room)
  const b = makeClient(t, server, room)
  await Promise.all([waitSynced(a), waitSynced(b)])
  a.doc.getText('t').insert(0, 'before')
  await waitFor(() => b.doc.getText('t').toString() === 'before', { timeout: 10000, what: 'initial edit to reach b' })

  // A valid update comfortably over the limit.
  const big = new Y.Doc()
  big.getText('big').insert(0, randomText(LIMIT * 2, 5))
  const msg = updateMessage(Y.encodeStateAsUpdate(big))
  assert.ok(msg.length > LIMIT)
  const raw = rawSocket(t, server.wsUrl(room))
  await raw.opened
  raw.send(msg).catch(() => {})
  const close = await waitClosed(raw, 10000, 'oversized session to be closed')
  assert.equal(close.code, 1009, `expected close code 1009 for a ${msg.length}-byte message, got ${JSON.stringify(close)}`)

  // The other sessions keep working, in both directions, and the big update was not applied.
  a.doc.getText('t').insert(6, ' after-a')
  b.doc.getText('t').insert(0, 'b: ')
  await waitFor(() => a.doc.getText('t').toString() === 'b: before after-a' && b.doc.getText('t').toString() === 'b: before after-a',
    { timeout: 10000, what: () => `a and b to keep syncing: a=${a.doc.getText('t')} b=${b.doc.getText('t')}` })
  assert.equal(a.provider.wsconnected && b.provider.wsconnected, true)
  assert.deepEqual(a.closeEvents, [])
  assert.deepEqual(b.closeEvents, [])
  const c = makeClient(t, server, room)
  await waitSynced(c)
  await waitFor(() => c.doc.getText('t').toString() === 'b: before after-a', { timeout: 10000, what: 'new client to get the document' })
  assert.equal(c.doc.getText('big').length, 0, 'the refused update must not have been applied')

  // A message just under the limit is accepted.
  const ok = new Y.Doc()
  ok.getText('ok').insert(0, randomText(LIMIT - 1024, 6))
  const okMsg = updateMessage(Y.encodeStateAsUpdate(ok))
  assert.ok(okMsg.length < LIMIT)
  const raw2 = rawSocket(t, server.wsUrl(room))
  await raw2.opened
  await raw2.send(okMsg)
  await waitFor(() => a.doc.getText('ok').length === LIMIT - 1024, { timeout: 10000, what: 'a just-under-limit update to be accepted and broadcast' })
  assert.equal(raw2.closeInfo, null)
})

/** Send `bytes` as one binary message split into `parts` WebSocket frames (continuation frames). */
function sendFragmented (raw, bytes, parts) {
  const size = Math.ceil(bytes.length / parts)
  return new Promise((resolve, reject) => {
    for (let off = 0; off < bytes.length; off += size) {
      const last = off + size >= bytes.length
      raw.ws.send(bytes.subarray(off, off + size), { binary: true, fin: last, compress: false }, (err) => {
        if (err) reject(err)
        else if (last) resolve()
      })
    }
  })
}

test('fragmented messages: reassembled when under --max-message-size, 1009 when the total is over it', {
  timeout: 60000,
  skip: (IS_REFERENCE && 'the reference server has no --max-message-size') ||
    (!supportsFlag('--max-message-size') && 'this Weft build has no --max-message-size flag')
}, async (t) => {
  const server = await startServer(t, { args: { maxMessageSize: LIMIT } })
  const room = randomRoom('fragments')
  const a = makeClient(t, server, room)
  await waitSynced(a)

  // Under the limit, in 4 frames of ~12 KiB: must be reassembled and applied.
  const small = new Y.Doc()
  small.getText('frag').insert(0, randomText(48 * 1024, 8))
  const smallMsg = updateMessage(Y.encodeStateAsUpdate(small))
  assert.ok(smallMsg.length < LIMIT)
  const raw1 = rawSocket(t, server.wsUrl(room))
  await raw1.opened
  await sendFragmented(raw1, smallMsg, 4)
  await waitFor(() => a.doc.getText('frag').length === 48 * 1024 || raw1.closeInfo, { timeout: 10000, what: 'fragmented update to be applied' })
  assert.equal(raw1.closeInfo, null, `fragmented message under the limit closed the session: ${JSON.stringify(raw1.closeInfo)}`)
  assert.equal(a.doc.getText('frag').toString(), small.getText('frag').toString())

  // Over the limit in total, though every frame is under it: 1009.
  const big = new Y.Doc()
  big.getText('bigfrag').insert(0, randomText(LIMIT * 2, 10))
  const bigMsg = updateMessage(Y.encodeStateAsUpdate(big))
  const raw2 = rawSocket(t, server.wsUrl(room))
  await raw2.opened
  sendFragmented(raw2, bigMsg, 8).catch(() => {})
  const close = await waitClosed(raw2, 10000, 'fragmented oversized session to be closed')
  assert.equal(close.code, 1009, `expected 1009 for a ${bigMsg.length}-byte message in 8 frames, got ${JSON.stringify(close)}`)
  assert.deepEqual(a.closeEvents, [])
  assert.equal(a.doc.getText('bigfrag').length, 0)
})

test('with the default limit a ~5 MB update syncs to another client', { timeout: 60000 }, async (t) => {
  const server = await startServer(t)
  const room = randomRoom('bigdoc')
  const a = makeClient(t, server, room)
  const b = makeClient(t, server, room)
  await Promise.all([waitSynced(a), waitSynced(b)])
  const text = randomText(5 * 1024 * 1024, 7)
  a.doc.getText('t').insert(0, text)
  await waitFor(() => b.doc.getText('t').length === text.length, { timeout: 30000, interval: 50, what: () => `b to receive the 5 MB insert (has ${b.doc.getText('t').length})` })
  assert.equal(b.doc.getText('t').toString(), text)
  assert.deepEqual(a.closeEvents, [])
  // And a late joiner receives it in sync step 2.
  const c = makeClient(t, server, room)
  await waitSynced(c, 30000)
  assert.equal(c.doc.getText('t').length, text.length)
})
