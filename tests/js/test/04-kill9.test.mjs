import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  startServer, makeClient, waitSynced, waitFor, randomRoom, destroyClient, sleep
} from '../lib/harness.mjs'

const WRITERS = 4
const WRITE_MS = 2000

test('kill -9 mid-write: everything an observer received survives the restart', { timeout: 90000 }, async (t) => {
  const server = await startServer(t)
  const room = randomRoom('kill9')
  const observer = makeClient(t, server, room)
  const writers = []
  for (let w = 0; w < WRITERS; w++) writers.push(makeClient(t, server, room))
  await Promise.all([observer, ...writers].map((c) => waitSynced(c)))

  // The observer records every item it has received from the server.
  const seen = new Set()
  const oarr = observer.doc.getArray('items')
  oarr.observe((e) => { for (const d of e.changes.delta) if (d.insert) for (const x of d.insert) seen.add(x) })

  // Writers push unique strings continuously (a mix of single and batched pushes).
  let stop = false
  const loops = writers.map(async (c, w) => {
    const arr = c.doc.getArray('items')
    let i = 0
    while (!stop) {
      if (i % 7 === 0) {
        const batch = []
        for (let k = 0; k < 5; k++) batch.push(`w${w}-${i++}`)
        arr.push(batch)
      } else {
        arr.push([`w${w}-${i++}`])
      }
      c.doc.getMap('last').set(`w${w}`, i)
      await sleep(2)
    }
    return i
  })

  await waitFor(() => seen.size >= 200, { timeout: 20000, what: () => `observer to receive 200 items (has ${seen.size})` })
  await sleep(WRITE_MS)
  // kill -9 while the writers are still writing.
  const info = await server.kill()
  const seenAtKill = new Set(seen)
  stop = true
  const written = await Promise.all(loops)
  t.diagnostic(`killed server (${JSON.stringify(info)}); writers produced ${written.reduce((a, b) => a + b, 0)} items, observer had ${seenAtKill.size}`)
  for (const c of [observer, ...writers]) { c.provider.shouldConnect = false; destroyClient(c) }

  await server.start()
  const fresh = makeClient(t, server, room)
  await waitSynced(fresh)
  // Give a possibly slower load a moment, then compare.
  const farr = fresh.doc.getArray('items')
  let missing = []
  try {
    await waitFor(() => {
      const have = new Set(farr.toArray())
      missing = [...seenAtKill].filter((x) => !have.has(x))
      return missing.length === 0
    }, { timeout: 10000, interval: 100, what: 'fresh client to contain every item the observer received' })
  } catch (e) {
    assert.fail(`${missing.length} of ${seenAtKill.size} items the observer had received are missing after kill -9 + restart (fresh client has ${farr.length}); e.g. ${missing.slice(0, 10).join(', ')}`)
  }
  // No duplicates in the restored array.
  const all = farr.toArray()
  assert.equal(new Set(all).size, all.length, 'restored array has duplicate items')
})
