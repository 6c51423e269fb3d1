import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, makeClient, waitSynced, waitFor, randomRoom, rawSocket, waitClosed, syncStep1Message, IS_REFERENCE } from '../lib/harness.mjs'

for (const signal of ['SIGTERM', 'SIGINT']) {
  test(`graceful shutdown on ${signal}: connected clients see 1001 and the process exits 0`, {
    timeout: 60000,
    skip: IS_REFERENCE && 'the reference server has no graceful shutdown (dies on the signal)'
  }, async (t) => {
    const server = await startServer(t)
    const rooms = [randomRoom('shutdown'), randomRoom('shutdown')]
    const clients = [makeClient(t, server, rooms[0]), makeClient(t, server, rooms[0]), makeClient(t, server, rooms[1])]
    await Promise.all(clients.map((c) => waitSynced(c)))
    clients[0].doc.getText('t').insert(0, 'last words')
    await waitFor(() => clients[1].doc.getText('t').toString() === 'last words', { timeout: 10000, what: 'edit to propagate' })
    const raw = rawSocket(t, server.wsUrl(rooms[1]))
    await raw.opened
    await raw.send(syncStep1Message())
    await waitFor(() => raw.messages.length >= 1, { timeout: 10000, what: 'raw socket to get a reply' })

    const exit = await server.stop(signal, 10000)
    t.diagnostic(`exit ${JSON.stringify(exit)}`)
    assert.equal(exit.code, 0, `expected exit code 0 after ${signal}, got ${JSON.stringify(exit)}\n${server.log()}`)
    assert.ok(exit.ms < 5000, `shutdown took ${exit.ms} ms`)
    const rawClose = await waitClosed(raw, 5000, 'raw socket close')
    assert.equal(rawClose.code, 1001, `raw socket: expected 1001, got ${JSON.stringify(rawClose)}`)
    await waitFor(() => clients.every((c) => c.closeEvents.length > 0), { timeout: 5000, what: 'every provider to see its socket close' })
    for (const [i, c] of clients.entries()) {
      assert.equal(c.closeEvents[0].code, 1001, `provider ${i}: expected close code 1001, got ${JSON.stringify(c.closeEvents)}`)
    }

    // The edit made before the shutdown is there after a restart.
    for (const c of clients) c.provider.destroy()
    await server.start()
    const fresh = makeClient(t, server, rooms[0])
    await waitSynced(fresh)
    assert.equal(fresh.doc.getText('t').toString(), 'last words')
  })
}
