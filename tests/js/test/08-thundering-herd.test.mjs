import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, makeClient, waitSynced, waitFor, randomRoom, sleep } from '../lib/harness.mjs'

const N = 20

const MODES = [
  { mode: 'before connecting', stored: true },
  { mode: 'right after connecting', stored: false }
]

for (const { mode, stored } of MODES) {
  test(`${N} providers connecting at once to an unloaded ${stored ? 'stored' : 'brand-new'} document converge (items inserted ${mode})`, { timeout: 60000 }, async (t) => {
    const server = await startServer(t)
    const room = randomRoom('herd')
    const expected = new Set()
    if (stored) await storeAndUnload(t, server, room, expected)

    const clients = []
    for (let i = 0; i < N; i++) {
      const c = makeClient(t, server, room, { connect: false })
      if (mode === 'before connecting') c.doc.getArray('items').push([`client-${i}`])
      clients.push(c)
    }
    if (mode === 'right after connecting') {
      // Insert as soon as the socket is open, racing the server's document load and sync step 2.
      clients.forEach((c, i) => {
        const onStatus = ({ status }) => {
          if (status !== 'connected') return
          c.provider.off('status', onStatus)
          c.doc.getArray('items').push([`client-${i}`])
        }
        c.provider.on('status', onStatus)
      })
    }
    // All connect in the same tick.
    for (const c of clients) c.provider.connect()
    await Promise.all(clients.map((c) => waitSynced(c, 30000)))
    clients.forEach((_, i) => expected.add(`client-${i}`))
    const describe = () => clients.map((c, i) => `${i}:${c.doc.getArray('items').length}`).join(' ')
    await waitFor(() => clients.every((c) => c.doc.getArray('items').length === expected.size), {
      timeout: 30000, interval: 50, what: () => `every client to see ${expected.size} items; lengths ${describe()}`
    })
    for (const [i, c] of clients.entries()) {
      const items = c.doc.getArray('items').toArray()
      assert.deepEqual(new Set(items), expected, `client ${i} content`)
      assert.equal(items.length, expected.size, `client ${i} has duplicates: ${items}`)
      assert.deepEqual(items, clients[0].doc.getArray('items').toArray(), `client ${i} order differs from client 0`)
    }
    // A fresh client sees the same single copy.
    const fresh = makeClient(t, server, room)
    await waitSynced(fresh)
    assert.deepEqual(fresh.doc.getArray('items').toArray(), clients[0].doc.getArray('items').toArray())
  })
}

/** Make the document exist on disk but not be loaded: write once, then restart the server. */
async function storeAndUnload (t, server, room, expected) {
  const seed = makeClient(t, server, room)
  await waitSynced(seed)
  seed.doc.getArray('items').push(['seed'])
  const check = makeClient(t, server, room)
  await waitFor(() => check.doc.getArray('items').length === 1, { timeout: 10000, what: 'seed item to reach the server' })
  seed.provider.destroy()
  check.provider.destroy()
  await sleep(200)
  await server.stop('SIGTERM').catch(() => server.kill())
  await server.start()
  expected.add('seed')
}
