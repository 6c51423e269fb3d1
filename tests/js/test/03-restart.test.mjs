import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  startServer, makeClient, waitSynced, waitFor, randomRoom, destroyClient, canonical, IS_REFERENCE
} from '../lib/harness.mjs'

const state = (doc) => canonical({ t: doc.getText('t').toString(), m: doc.getMap('m').toJSON(), arr: doc.getArray('arr').toJSON() })

test('SIGTERM + restart on the same data dir keeps the document', { timeout: 60000 }, async (t) => {
  const server = await startServer(t)
  const room = randomRoom('restart')
  const other = randomRoom('restart-other')
  const a = makeClient(t, server, room)
  const b = makeClient(t, server, other)
  await Promise.all([waitSynced(a), waitSynced(b)])
  a.doc.getText('t').insert(0, 'persist me ✓')
  a.doc.getMap('m').set('k', { v: [1, 'two', null, true] })
  const arr = a.doc.getArray('arr')
  for (let i = 0; i < 100; i++) arr.push([`item-${i}`])
  b.doc.getText('t').insert(0, 'second document')
  // Make sure the server has the edits: a second reader sees them.
  const check = makeClient(t, server, room)
  await waitFor(() => check.doc.getArray('arr').length === 100 && check.doc.getText('t').toString() === 'persist me ✓',
    { timeout: 10000, what: 'edits to reach a second client' })
  const expected = state(a.doc)
  const expectedOther = b.doc.getText('t').toString()

  // Some clients stay connected through the shutdown.
  const exit = await server.stop('SIGTERM', 10000)
  t.diagnostic(`server exit after SIGTERM: ${JSON.stringify(exit)}`)
  if (IS_REFERENCE) {
    assert.ok(exit.code === 0 || exit.signal === 'SIGTERM', `unexpected exit ${JSON.stringify(exit)}`)
  } else {
    assert.equal(exit.code, 0, `server must exit 0 on SIGTERM, got ${JSON.stringify(exit)}\n${server.log()}`)
    assert.ok(exit.ms < 5000, `SIGTERM shutdown took ${exit.ms} ms`)
  }
  for (const c of [a, b, check]) destroyClient(c)

  await server.start()
  const fresh = makeClient(t, server, room)
  const freshOther = makeClient(t, server, other)
  await Promise.all([waitSynced(fresh), waitSynced(freshOther)])
  await waitFor(() => state(fresh.doc) === expected, {
    timeout: 10000, what: () => `restarted server to serve the document\nexpected=${expected}\ngot=${state(fresh.doc)}`
  })
  assert.equal(freshOther.doc.getText('t').toString(), expectedOther)

  // Still writable after the restart, and the new edit is persisted too.
  fresh.doc.getArray('arr').push(['after-restart'])
  const again = makeClient(t, server, room)
  await waitFor(() => again.doc.getArray('arr').toArray().includes('after-restart'), { timeout: 10000, what: 'post-restart edit to propagate' })
})

test('connected providers reconnect after a restart on the same port; edits made while the server was down merge', { timeout: 60000 }, async (t) => {
  const server = await startServer(t)
  const port = server.port
  const room = randomRoom('reconnect')
  const a = makeClient(t, server, room)
  const b = makeClient(t, server, room)
  await Promise.all([waitSynced(a), waitSynced(b)])
  a.doc.getArray('arr').push(['before'])
  await waitFor(() => b.doc.getArray('arr').length === 1, { timeout: 10000, what: 'first edit to propagate' })

  const exit = await server.stop('SIGTERM', 10000)
  if (!IS_REFERENCE) assert.equal(exit.code, 0, `exit after SIGTERM: ${JSON.stringify(exit)}`)
  await waitFor(() => !a.provider.wsconnected && !b.provider.wsconnected, { timeout: 10000, what: 'providers to notice the shutdown' })
  // Offline edits on both sides.
  a.doc.getArray('arr').push(['offline-a'])
  b.doc.getArray('arr').push(['offline-b'])
  b.doc.getText('t').insert(0, 'typed while offline')

  await server.start({ port })
  await Promise.all([waitSynced(a, 20000), waitSynced(b, 20000)])
  const items = (c) => [...c.doc.getArray('arr').toArray()].sort().join(',')
  await waitFor(() => items(a) === 'before,offline-a,offline-b' && items(b) === items(a) && a.doc.getText('t').toString() === 'typed while offline', {
    timeout: 10000, what: () => `offline edits to merge: a=${items(a)} b=${items(b)}`
  })
  // And the merged state is stored: a fresh client after one more restart sees it.
  for (const c of [a, b]) c.provider.destroy()
  await server.stop('SIGTERM', 10000)
  await server.start()
  const fresh = makeClient(t, server, room)
  await waitSynced(fresh)
  await waitFor(() => items(fresh) === 'before,offline-a,offline-b', { timeout: 10000, what: () => `fresh client to see merged state: ${items(fresh)}` })
})
