import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  startServer, makeClient, waitSynced, waitFor, randomRoom, rawSocket, waitClosed, httpGet,
  awarenessMessage, rawAwarenessUpdate, prng, encoding, IS_REFERENCE
} from '../lib/harness.mjs'

const bytesFrom = (seed, n, map = (x) => x) => {
  const r = prng(seed)
  return Uint8Array.from({ length: n }, () => map(Math.floor(r() * 256)))
}

function syncUpdateWithRandomPayload () {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 0) // sync
  encoding.writeVarUint(e, 2) // update
  encoding.writeVarUint8Array(e, bytesFrom(4, 60)) // not a decodable Yjs update
  return encoding.toUint8Array(e)
}

const CASES = [
  // every byte has the continuation bit set: the leading varint never ends / overflows
  { name: 'random bytes (unterminated varint)', data: bytesFrom(11, 128, (x) => x | 0x80), codes: [1002, 1007] },
  { name: 'sync update with a random (undecodable) payload', data: syncUpdateWithRandomPayload(), codes: [1002, 1007] },
  { name: 'truncated varint [0x00,0x02,0xff]', data: Uint8Array.of(0x00, 0x02, 0xff), codes: [1002, 1007] },
  { name: 'absurd length prefix [0x00,0x01,0xff,0xff,0xff,0xff,0x0f]', data: Uint8Array.of(0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f), codes: [1002, 1007] },
  { name: 'awareness update with invalid JSON', data: awarenessMessage(rawAwarenessUpdate(4242, 1, '{"user": not json')), codes: [1002, 1007] },
  { name: 'empty binary frame', data: new Uint8Array(0), codes: [1002, 1007] },
  { name: 'text frame', data: 'hello, I am text', text: true, codes: [1003] }
]

const state = (doc) => JSON.stringify({ t: doc.getText('t').toString(), a: doc.getArray('a').toJSON() })

test('garbage frames close only the offending session (1002/1003/1007); the document and other sessions are unaffected', { timeout: 90000 }, async (t) => {
  const server = await startServer(t)
  const room = randomRoom('garbage')
  const a = makeClient(t, server, room)
  const b = makeClient(t, server, room)
  await Promise.all([waitSynced(a), waitSynced(b)])
  a.doc.getText('t').insert(0, 'stable content')
  await waitFor(() => state(b.doc) === state(a.doc), { timeout: 10000, what: 'initial sync' })

  if (IS_REFERENCE) t.diagnostic('reference target: close codes are not checked (the reference server ignores bad frames)')
  const failures = []
  for (const [i, c] of CASES.entries()) {
    const raw = rawSocket(t, server.wsUrl(room))
    await raw.opened
    await new Promise((resolve) => raw.ws.send(c.data, { binary: !c.text }, () => resolve()))
    if (!IS_REFERENCE) {
      let close
      try {
        close = await waitClosed(raw, 10000, `session to be closed after: ${c.name}`)
      } catch (e) {
        failures.push(`${c.name}: not closed within 10 s (socket state ${raw.ws.readyState})`)
        raw.ws.terminate()
      }
      if (close && !c.codes.includes(close.code)) failures.push(`${c.name}: closed with ${close.code} ${JSON.stringify(close.reason)}, expected one of ${c.codes.join('/')}`)
      t.diagnostic(`${c.name}: ${JSON.stringify(close)}`)
    }
    // The server is alive and the other sessions still sync, both ways.
    assert.equal(server.exitInfo, null, `server exited after: ${c.name}\n${server.log()}`)
    a.doc.getArray('a').push([`from-a-${i}`])
    b.doc.getArray('a').push([`from-b-${i}`])
    await waitFor(() => state(a.doc) === state(b.doc) && a.doc.getArray('a').length === 2 * (i + 1),
      { timeout: 10000, what: () => `a and b to keep syncing after ${c.name}: a=${state(a.doc)} b=${state(b.doc)}` })
    raw.ws.terminate()
  }
  assert.deepEqual(a.closeEvents, [], 'provider a must not have been disconnected')
  assert.deepEqual(b.closeEvents, [], 'provider b must not have been disconnected')
  assert.equal((await httpGet(server.httpBase + (IS_REFERENCE ? '/' : '/healthz'))).status, 200)

  // A new connection works and sees exactly the legitimate content.
  const c = makeClient(t, server, room)
  await waitSynced(c)
  await waitFor(() => state(c.doc) === state(a.doc), { timeout: 10000, what: () => `new client to match: c=${state(c.doc)} a=${state(a.doc)}` })
  assert.equal(c.doc.getText('t').toString(), 'stable content')
  assert.equal(c.doc.getArray('a').length, 2 * CASES.length)
  // The bogus awareness client (4242) must not have been accepted.
  assert.equal(c.awareness.getStates().has(4242), false, 'state from the invalid awareness message must not be stored')
  assert.deepEqual(failures, [], 'garbage frames were not handled as specified:\n' + failures.join('\n'))
})
