import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  startServer, makeClient, waitSynced, waitFor, randomRoom, rawSocket, waitClosed, syncStep1Message,
  awarenessMessage, rawAwarenessUpdate, supportsFlag, randomText, IS_REFERENCE
} from '../lib/harness.mjs'

const QUEUE = 64
const UPDATES = 600
const UPDATE_BYTES = 32 * 1024
const AHEAD = 16 // < QUEUE

test('a client that stops reading is closed with 1013 while a normal reader stays in sync and fast', {
  timeout: 120000,
  skip: (IS_REFERENCE && 'the reference server buffers without bound (no slow-client policy)') ||
    (!supportsFlag('--session-queue') && 'this Weft build has no --session-queue flag')
}, async (t) => {
  const server = await startServer(t, { args: { sessionQueue: QUEUE } })
  const room = randomRoom('slow')
  const writer = makeClient(t, server, room)
  const reader = makeClient(t, server, room)
  await Promise.all([waitSynced(writer), waitSynced(reader)])

  // The slow client: a raw socket that syncs and announces itself in awareness, then stops reading.
  const slowID = 777000 + Math.floor(Math.random() * 1000)
  const slow = rawSocket(t, server.wsUrl(room))
  await slow.opened
  await slow.send(syncStep1Message())
  await slow.send(awarenessMessage(rawAwarenessUpdate(slowID, 1, JSON.stringify({ user: { name: 'slow' } }))))
  await waitFor(() => reader.awareness.getStates().get(slowID)?.user?.name === 'slow', { timeout: 10000, what: 'reader to see the slow client in awareness' })
  await waitFor(() => slow.messages.length > 0, { timeout: 10000, what: 'slow client to get the server sync step 1' })
  slow.ws._socket.pause()

  // The reader records when each marker arrives.
  const sentAt = new Map()
  const latencies = []
  reader.doc.getMap('markers').observe((e) => {
    for (const k of e.keysChanged) if (sentAt.has(k)) latencies.push(Date.now() - sentAt.get(k))
  })

  const bulk = writer.doc.getText('bulk')
  const chunk = randomText(UPDATE_BYTES, 9)
  let slowDroppedAt = null
  const t0 = Date.now()
  for (let i = 0; i < UPDATES; i++) {
    bulk.insert(bulk.length, chunk)
    if (i % 25 === 0) {
      const k = `m${i}`
      sentAt.set(k, Date.now())
      writer.doc.getMap('markers').set(k, i)
    }
    // The writer stays at most AHEAD updates ahead of the normal reader: the reader runs in this
    // same process, and we test the server's handling of a stalled client, not Node's throughput.
    await new Promise((resolve) => setImmediate(resolve))
    await waitFor(() => reader.doc.getText('bulk').length >= (i + 1 - AHEAD) * UPDATE_BYTES, {
      timeout: 30000, interval: 1, what: () => `normal reader to keep up (update ${i}, reader has ${reader.doc.getText('bulk').length / UPDATE_BYTES}, closes ${JSON.stringify(reader.closeEvents)})`
    })
    if (slowDroppedAt === null && !reader.awareness.getStates().has(slowID)) slowDroppedAt = i
  }
  const expectedLen = UPDATES * UPDATE_BYTES
  await waitFor(() => reader.doc.getText('bulk').length === expectedLen, {
    timeout: 30000, interval: 20, what: () => `reader to receive all ${UPDATES} updates (has ${reader.doc.getText('bulk').length / UPDATE_BYTES})`
  })
  const elapsed = Date.now() - t0
  const maxLatency = Math.max(...latencies)
  t.diagnostic(`wrote ${expectedLen / 1048576} MiB in ${elapsed} ms; reader marker latency max ${maxLatency} ms over ${latencies.length} markers; slow client's awareness gone after update #${slowDroppedAt}`)
  assert.equal(latencies.length, sentAt.size, 'reader missed markers')
  assert.ok(maxLatency < 5000, `normal reader lagged ${maxLatency} ms behind the writer`)
  assert.deepEqual(reader.closeEvents, [], 'normal reader was disconnected')
  assert.deepEqual(writer.closeEvents, [], 'writer was disconnected')

  // The server must have dropped the slow client (its awareness state is removed at the reader).
  await waitFor(() => !reader.awareness.getStates().has(slowID), { timeout: 20000, what: 'server to drop the slow client (its awareness removed at the reader)' })

  // Reading again, the slow client finds a 1013 close frame after whatever had been buffered.
  slow.ws._socket.resume()
  const close = await waitClosed(slow, 20000, 'slow client to see the close after resuming')
  t.diagnostic(`slow client: received ${slow.messages.length} messages then close ${JSON.stringify(close)}`)
  assert.equal(close.code, 1013, `slow client close: expected 1013, got ${JSON.stringify(close)}`)
  assert.ok(slow.messages.length < UPDATES, 'the slow client should not have got every update')

  // The document is complete for a fresh client.
  const fresh = makeClient(t, server, room)
  await waitSynced(fresh, 30000)
  assert.equal(fresh.doc.getText('bulk').length, expectedLen)
})
