// The Hocuspocus endpoint (`/hocuspocus`) with the real npm `@hocuspocus/provider`, against the
// stock y-websocket provider on `/ws/{doc}`: the same document actors serve both.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { HocuspocusProvider as HocuspocusProviderV2, HocuspocusProviderWebsocket as HocuspocusProviderWebsocketV2 } from 'hocuspocus-provider-v2'
import {
  startServer, makeClient, waitSynced, waitFor, randomRoom, rawSocket, waitClosed, destroyClient,
  canonical, sleep, IS_REFERENCE, WEFT_BIN, Y, WebSocket, encoding
} from '../lib/harness.mjs'
import { hpUrl, hpClient, sharedSocket, hpSynced } from '../lib/hocuspocus.mjs'

const skip = IS_REFERENCE && 'the reference server has no Hocuspocus endpoint'
const SECRET = 'node black-box secret, at least 32 bytes'

const state = (doc) => canonical({ t: doc.getText('t').toString(), m: doc.getMap('m').toJSON() })

function mint (doc, access, ttl = '1h') {
  return execFileSync(WEFT_BIN, ['token', '--doc', doc, '--access', access, '--ttl', ttl], {
    encoding: 'utf8', env: { PATH: process.env.PATH, WEFT_AUTH_SECRET: SECRET }
  }).trim()
}

test('a HocuspocusProvider and a y-websocket provider co-edit one document (Y.Text, Y.Map) and converge', { timeout: 60000, skip }, async (t) => {
  const server = await startServer(t)
  const room = randomRoom('hp-converge')
  const hp = hpClient(t, server, room)
  const yws = makeClient(t, server, room)
  await Promise.all([hpSynced(hp), waitSynced(yws)])
  assert.deepEqual(hp.events.authenticated, ['read-write'])

  hp.doc.getText('t').insert(0, 'hello from hocuspocus')
  await waitFor(() => yws.doc.getText('t').toString() === 'hello from hocuspocus', { what: 'y-websocket to see the hocuspocus edit' })
  yws.doc.getText('t').insert(0, '[ws] ')
  await waitFor(() => hp.doc.getText('t').toString() === '[ws] hello from hocuspocus', { what: 'hocuspocus to see the y-websocket edit' })

  // Concurrent edits on both sides, text and map.
  for (let i = 0; i < 50; i++) {
    hp.doc.getText('t').insert(hp.doc.getText('t').length, `h${i}`)
    yws.doc.getText('t').insert(0, `w${i}`)
    hp.doc.getMap('m').set(`hp-${i % 7}`, { i, from: 'hp' })
    yws.doc.getMap('m').set(`ws-${i % 5}`, [i, 'ws'])
    if (i % 10 === 0) hp.doc.getMap('m').set('shared', `hp-${i}`)
    if (i % 10 === 5) yws.doc.getMap('m').set('shared', `ws-${i}`)
  }
  await waitFor(() => state(hp.doc) === state(yws.doc), {
    timeout: 15000, what: () => `convergence\nhp=${state(hp.doc)}\nws=${state(yws.doc)}`
  })
  assert.equal(hp.doc.getText('t').length, yws.doc.getText('t').length)
  assert.equal(Object.keys(hp.doc.getMap('m').toJSON()).length, 7 + 5 + 1)
  // Every write was acknowledged (SyncStatus): nothing is left unsynced.
  await waitFor(() => hp.provider.unsyncedChanges === 0, { what: () => `unsyncedChanges to reach 0 (is ${hp.provider.unsyncedChanges})` })

  // A late hocuspocus joiner gets everything.
  const late = hpClient(t, server, room)
  await hpSynced(late)
  await waitFor(() => state(late.doc) === state(yws.doc), { what: 'late joiner to catch up' })
})

test('awareness crosses between the hocuspocus and y-websocket endpoints, both ways, and leaves are seen', { timeout: 60000, skip }, async (t) => {
  const server = await startServer(t)
  const room = randomRoom('hp-awareness')
  const hp = hpClient(t, server, room)
  const yws = makeClient(t, server, room)
  await Promise.all([hpSynced(hp), waitSynced(yws)])

  hp.awareness.setLocalStateField('user', { name: 'Hocus', color: '#f00' })
  yws.awareness.setLocalStateField('user', { name: 'Web', color: '#00f' })
  await waitFor(() => yws.awareness.getStates().get(hp.doc.clientID)?.user?.name === 'Hocus', { what: 'y-websocket to see the hocuspocus user' })
  await waitFor(() => hp.awareness.getStates().get(yws.doc.clientID)?.user?.name === 'Web', { what: 'hocuspocus to see the y-websocket user' })

  hp.awareness.setLocalStateField('cursor', { anchor: 3 })
  await waitFor(() => yws.awareness.getStates().get(hp.doc.clientID)?.cursor?.anchor === 3, { what: 'cursor update to cross' })

  hp.provider.destroy()
  await waitFor(() => !yws.awareness.getStates().has(hp.doc.clientID), { timeout: 10000, what: 'hocuspocus leave to reach y-websocket' })
})

test('two documents multiplexed over one HocuspocusProviderWebsocket both sync; closing one keeps the other', { timeout: 60000, skip }, async (t) => {
  const server = await startServer(t)
  const roomA = randomRoom('hp-mux-a')
  const roomB = randomRoom('hp-mux-b')
  const socket = sharedSocket(t, server)
  const a = hpClient(t, server, roomA, { socket })
  const b = hpClient(t, server, roomB, { socket })
  const wsA = makeClient(t, server, roomA)
  const wsB = makeClient(t, server, roomB)
  await Promise.all([hpSynced(a), hpSynced(b), waitSynced(wsA), waitSynced(wsB)])

  a.doc.getText('t').insert(0, 'document A')
  b.doc.getText('t').insert(0, 'document B')
  wsA.doc.getMap('m').set('from', 'ws A')
  wsB.doc.getMap('m').set('from', 'ws B')
  await waitFor(() => wsA.doc.getText('t').toString() === 'document A' && wsB.doc.getText('t').toString() === 'document B',
    { what: 'each document to reach its y-websocket client' })
  await waitFor(() => a.doc.getMap('m').get('from') === 'ws A' && b.doc.getMap('m').get('from') === 'ws B',
    { what: 'each y-websocket edit to reach its multiplexed provider' })
  // Nothing leaked across documents.
  assert.equal(wsA.doc.getText('t').toString(), 'document A')
  assert.equal(b.doc.getMap('m').get('from'), 'ws B')
  assert.equal(a.provider.configuration.websocketProvider.webSocket, b.provider.configuration.websocketProvider.webSocket)

  // A stateless message is accepted (and dropped: no server hook) without harm.
  a.provider.sendStateless(JSON.stringify({ hello: 1 }))

  // Detaching one provider sends Close for its document only; the other keeps syncing.
  a.provider.destroy()
  wsB.doc.getText('t').insert(0, '>')
  await waitFor(() => b.doc.getText('t').toString() === '>document B', { what: 'the remaining document to keep syncing' })
  b.doc.getText('t').insert(b.doc.getText('t').length, '<')
  await waitFor(() => wsB.doc.getText('t').toString() === '>document B<', { what: 'the remaining provider to keep sending' })
  await waitFor(() => b.provider.unsyncedChanges === 0, { what: 'acknowledgements for the remaining document' })

  // Re-attaching a document on the same socket works.
  const again = hpClient(t, server, roomA, { socket })
  await hpSynced(again)
  await waitFor(() => again.doc.getText('t').toString() === 'document A', { what: 're-attached document to sync' })
})

test('a malformed hocuspocus message closes only that socket', { timeout: 60000, skip }, async (t) => {
  const server = await startServer(t)
  const room = randomRoom('hp-garbage')
  const hp = hpClient(t, server, room)
  const yws = makeClient(t, server, room)
  await Promise.all([hpSynced(hp), waitSynced(yws)])
  hp.doc.getText('t').insert(0, 'before')
  await waitFor(() => yws.doc.getText('t').toString() === 'before', { what: 'first edit' })

  const cases = [
    { what: 'name longer than the frame', bytes: Uint8Array.of(0x10, 0x61), code: 1002 },
    { what: 'sync message with a truncated body', bytes: (() => { const e = encoding.createEncoder(); encoding.writeVarString(e, room); encoding.writeVarUint(e, 0); encoding.writeVarUint(e, 2); encoding.writeVarUint(e, 40); encoding.writeUint8(e, 1); return encoding.toUint8Array(e) })(), code: 1002 },
    { what: 'undecodable update', bytes: (() => { const e = encoding.createEncoder(); encoding.writeVarString(e, room); encoding.writeVarUint(e, 0); encoding.writeVarUint(e, 2); encoding.writeVarUint8Array(e, Uint8Array.of(3, 0xff, 0xff, 0xff)); return encoding.toUint8Array(e) })(), code: 1007 }
  ]
  for (const c of cases) {
    const raw = rawSocket(t, hpUrl(server))
    await raw.opened
    // Open the document first, so the bad frame reaches a live document.
    const auth = encoding.createEncoder()
    encoding.writeVarString(auth, room); encoding.writeVarUint(auth, 2); encoding.writeVarUint(auth, 0); encoding.writeVarString(auth, '')
    await raw.send(encoding.toUint8Array(auth))
    await raw.send(c.bytes)
    const closed = await waitClosed(raw, 10000, `close after ${c.what}`)
    assert.equal(closed.code, c.code, `${c.what}: close code`)
  }
  const text = rawSocket(t, hpUrl(server))
  await text.opened
  text.ws.send('not binary')
  assert.equal((await waitClosed(text)).code, 1003)

  // The providers on other sockets never noticed.
  hp.doc.getText('t').insert(hp.doc.getText('t').length, ' after')
  await waitFor(() => yws.doc.getText('t').toString() === 'before after', { what: 'edits after the garbage' })
  assert.equal(hp.events.closes.length, 0, `hocuspocus provider saw closes: ${JSON.stringify(hp.events.closes)}`)
})

test('hocuspocus edits persist across a server restart', { timeout: 60000, skip }, async (t) => {
  const server = await startServer(t)
  const port = server.port
  const room = randomRoom('hp-restart')
  const hp = hpClient(t, server, room)
  await hpSynced(hp)
  hp.doc.getText('t').insert(0, 'durable ✓')
  hp.doc.getMap('m').set('k', { v: [1, 2, 3] })
  // Acknowledged by the server.
  await waitFor(() => hp.provider.unsyncedChanges === 0, { what: 'acknowledgements before the restart' })
  const expected = state(hp.doc)

  const exit = await server.stop('SIGTERM', 10000)
  assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}\n${server.log()}`)
  await server.start({ port })

  const fresh = hpClient(t, server, room)
  await hpSynced(fresh)
  await waitFor(() => state(fresh.doc) === expected, { what: () => `restarted server to serve the document (got ${state(fresh.doc)})` })
  const yws = makeClient(t, server, room)
  await waitSynced(yws)
  assert.equal(state(yws.doc), expected)

  // The provider that was connected through the restart reconnects and keeps editing.
  await hpSynced(hp, 20000)
  hp.doc.getText('t').insert(0, '+')
  await waitFor(() => yws.doc.getText('t').toString() === '+durable ✓', { timeout: 15000, what: 'reconnected provider edit to propagate' })
  destroyClient(yws)
})

test('hocuspocus auth: tokens in the Auth message; denied, read-only and write tokens', { timeout: 60000, skip }, async (t) => {
  const server = await startServer(t, { args: { extra: ['--auth-secret', SECRET] } })
  const room = randomRoom('hp-auth')

  const none = hpClient(t, server, room)
  await waitFor(() => none.events.failed.length > 0, { what: 'authenticationFailed without a token' })
  assert.equal(none.events.failed[0], 'token-required')
  const bad = hpClient(t, server, room, { token: 'not-a-jwt' })
  const elsewhere = hpClient(t, server, room, { token: mint('elsewhere', 'write') })
  await waitFor(() => bad.events.failed.length > 0 && elsewhere.events.failed.length > 0, { what: 'bad tokens refused' })
  assert.equal(bad.events.failed[0], 'token-invalid')
  assert.equal(elsewhere.events.failed[0], 'document-not-allowed')
  assert.equal(none.provider.isSynced, false)

  const writer = hpClient(t, server, room, { token: mint('hp-auth-*', 'write') })
  const reader = hpClient(t, server, room, { token: mint(room, 'read') })
  await Promise.all([hpSynced(writer), waitFor(() => reader.provider.isSynced, { what: 'reader synced' })])
  assert.deepEqual(writer.events.authenticated, ['read-write'])
  assert.deepEqual(reader.events.authenticated, ['readonly'])

  writer.doc.getText('t').insert(0, 'from writer')
  await waitFor(() => reader.doc.getText('t').toString() === 'from writer', { what: 'reader to receive the edit' })
  // The reader's edit is refused (SyncStatus false): it stays unsynced and never reaches others.
  reader.doc.getText('t').insert(0, 'READER ')
  await sleep(500)
  assert.ok(reader.provider.hasUnsyncedChanges, 'a refused edit stays unsynced')
  writer.doc.getText('t').insert(writer.doc.getText('t').length, '!')
  await waitFor(() => reader.doc.getText('t').toString().endsWith('!'), { what: 'reader to keep receiving' })
  assert.equal(writer.doc.getText('t').toString(), 'from writer!')

  // One socket may mix documents with different tokens: a refusal affects only its document.
  const socket = sharedSocket(t, server)
  const ok = hpClient(t, server, room, { socket, token: mint(room, 'write') })
  const no = hpClient(t, server, randomRoom('other'), { socket, token: mint(room, 'write') })
  await hpSynced(ok)
  await waitFor(() => no.events.failed.length > 0, { what: 'out-of-scope document refused on the shared socket' })
  ok.doc.getText('t').insert(0, '#')
  await waitFor(() => writer.doc.getText('t').toString().startsWith('#'), {
    what: () => `the allowed document to keep syncing (ok=${ok.doc.getText('t')} writer=${writer.doc.getText('t')} synced=${ok.provider.isSynced} unsynced=${ok.provider.unsyncedChanges} status=${socket.status} events=${JSON.stringify(ok.events)})`
  })
})

test('provider v2 without a token (it sends no Auth message) syncs with a v4 provider and y-websocket', { timeout: 60000, skip }, async (t) => {
  const server = await startServer(t)
  const room = randomRoom('hp-v2')
  const doc = new Y.Doc()
  // v2 does not pass `WebSocketPolyfill` on from `url`: give it its socket explicitly.
  const socket = new HocuspocusProviderWebsocketV2({ url: hpUrl(server), WebSocketPolyfill: WebSocket })
  const v2 = new HocuspocusProviderV2({ websocketProvider: socket, name: room, document: doc, broadcast: false })
  t.after(() => { try { v2.destroy() } catch {} ; try { socket.destroy() } catch {} ; doc.destroy() })
  const v4 = hpClient(t, server, room)
  const yws = makeClient(t, server, room)
  await Promise.all([hpSynced(v4), waitSynced(yws)])
  await waitFor(() => v2.synced && !v2.hasUnsyncedChanges, { what: () => `v2 provider to sync (synced=${v2.synced}, unsynced=${v2.unsyncedChanges})` })
  doc.getText('t').insert(0, 'from v2')
  await waitFor(() => v4.doc.getText('t').toString() === 'from v2' && yws.doc.getText('t').toString() === 'from v2', { what: 'v2 edit to reach the others' })
  v4.doc.getMap('m').set('k', 'from v4')
  await waitFor(() => doc.getMap('m').get('k') === 'from v4', { what: 'v4 edit to reach v2' })
  await waitFor(() => v2.unsyncedChanges === 0, { what: 'v2 acknowledgements' })
})

test('a lone provider is kept alive: its awareness is echoed, so messageReconnectTimeout never fires', { timeout: 60000, skip }, async (t) => {
  const server = await startServer(t)
  const room = randomRoom('hp-alone')
  const socket = new HocuspocusProviderWebsocket({ url: hpUrl(server), WebSocketPolyfill: WebSocket, messageReconnectTimeout: 1500 })
  t.after(() => { try { socket.destroy() } catch {} })
  const hp = hpClient(t, server, room, { socket })
  await hpSynced(hp)
  const disconnects = []
  socket.on('disconnect', (e) => disconnects.push(e))
  // Awareness renewals stand in for the provider's 15 s heartbeat, sped up.
  for (let i = 0; i < 8; i++) {
    hp.awareness.setLocalStateField('tick', i)
    await sleep(500)
  }
  assert.equal(disconnects.length, 0, `provider disconnected: ${JSON.stringify(disconnects.map((d) => d.event?.code))}`)
  assert.ok(hp.provider.isSynced)
})

test('v4 sessionAwareness: two providers of one document share a socket', { timeout: 60000, skip }, async (t) => {
  const server = await startServer(t)
  const room = randomRoom('hp-session')
  const socket = sharedSocket(t, server)
  const mk = () => {
    const doc = new Y.Doc()
    const provider = new HocuspocusProvider({ websocketProvider: socket, name: room, document: doc, sessionAwareness: true })
    provider.attach()
    t.after(() => { try { provider.destroy() } catch {} ; doc.destroy() })
    return { doc, provider, name: room, events: {} }
  }
  const a = mk()
  const b = mk()
  await Promise.all([hpSynced(a), hpSynced(b)])
  a.doc.getText('t').insert(0, 'a')
  b.doc.getText('t').insert(0, 'b')
  await waitFor(() => a.doc.getText('t').length === 2 && a.doc.getText('t').toString() === b.doc.getText('t').toString(),
    { what: () => `convergence (a=${a.doc.getText('t')}, b=${b.doc.getText('t')})` })
  await waitFor(() => a.provider.unsyncedChanges === 0 && b.provider.unsyncedChanges === 0, { what: 'acknowledgements' })
})
