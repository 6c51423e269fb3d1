// Live sessions against the real server: Hocuspocus stateless messages (one node and across
// two cluster nodes on PostgreSQL), the sessions API, token revocation, and the opt-in webhook
// events. Cluster tests need WEFT_TEST_DATABASE_URL (./scripts/test.sh starts a PostgreSQL).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import http from 'node:http'
import {
  startServer, makeClient, waitFor, randomRoom, rawSocket, waitClosed, sleep, IS_REFERENCE,
  WEFT_BIN, Y, TestServer
} from '../lib/harness.mjs'
import { hpClient, hpSynced } from '../lib/hocuspocus.mjs'

const skip = IS_REFERENCE && 'the reference server has no live-session features'
const PG = process.env.WEFT_TEST_DATABASE_URL
const skipCluster = skip || (!PG && 'needs WEFT_TEST_DATABASE_URL (run ./scripts/test.sh)')
const SECRET = 'node black-box secret, at least 32 bytes'
const ADMIN = 'node black-box admin key, 32 bytes or more'
const AUTH = ['--auth-secret', SECRET, '--admin-key', ADMIN]

/** A token and its id. */
function mint (doc, access, { user = null, ttl = '1h' } = {}) {
  const args = ['token', '--doc', doc, '--access', access, '--ttl', ttl]
  if (user) args.push('--user', user)
  const jti = `jti-${Math.random().toString(36).slice(2)}`
  args.push('--jti', jti)
  const token = execFileSync(WEFT_BIN, args, {
    encoding: 'utf8', env: { PATH: process.env.PATH, WEFT_AUTH_SECRET: SECRET }, stdio: ['ignore', 'pipe', 'ignore']
  }).trim()
  return { token, jti }
}

async function api (server, method, path, { body, key = ADMIN } = {}) {
  const headers = { 'content-type': 'application/json' }
  if (key) headers.authorization = `Bearer ${key}`
  const res = await fetch(server.httpBase + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) : null }
}

const sessionsOf = (server, doc) => api(server, 'GET', `/api/v1/documents/${encodeURIComponent(doc)}/sessions`)

/** A fresh PostgreSQL database for one cluster (with psql; else the test server's own). */
function freshDatabase () {
  const name = `weft_js_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
  try {
    execFileSync('psql', [PG, '-q', '-c', `CREATE DATABASE ${name}`], { stdio: 'ignore' })
  } catch (e) {
    console.log(`# psql could not create a database (${e.message}); the nodes share ${PG}`)
    return PG
  }
  const u = new URL(PG)
  u.pathname = `/${name}`
  return u.toString()
}

/** Two nodes of one cluster (fresh database), both listening for each other. */
async function twoNodes (t, extra = []) {
  const url = freshDatabase()
  const nodes = []
  for (const id of ['node-a', 'node-b']) {
    const s = new TestServer({ args: { extra: ['--database-url', url, '--node-id', id, '--heartbeat', '200ms', '--node-expiry', '3s', ...AUTH, ...extra] } })
    t.after(() => s.cleanup())
    await s.start()
    nodes.push(s)
  }
  // Ready once each node listens and has seen the other's heartbeat (the sessions list needs it).
  for (const s of nodes) {
    await waitFor(async () => (await fetch(`${s.httpBase}/readyz`)).status === 200, { what: 'node ready' })
  }
  await waitFor(async () => {
    const text = await (await fetch(`${nodes[0].httpBase}/metrics`)).text()
    return /weft_cluster_nodes\s+2/.test(text)
  }, { what: 'both nodes to see each other' })
  return { url, nodes }
}

/** A y-websocket connection (raw) with a token; resolves once open. */
async function wsSession (t, server, doc, token) {
  const r = rawSocket(t, `${server.serverUrl}/${encodeURIComponent(doc)}?token=${token}`)
  await r.opened
  return r
}

test('stateless messages reach the document\'s other Hocuspocus sessions; read-only may send them, not edit', { timeout: 60000, skip }, async (t) => {
  const server = await startServer(t, { args: { extra: AUTH } })
  const room = randomRoom('stateless')
  const a = hpClient(t, server, room, { token: mint(room, 'write', { user: 'ann' }).token })
  const b = hpClient(t, server, room, { token: mint(room, 'write', { user: 'bob' }).token })
  const reader = hpClient(t, server, room, { token: mint(room, 'read', { user: 'rae' }).token })
  const other = hpClient(t, server, randomRoom('elsewhere'), { token: mint('*', 'write').token })
  await Promise.all([hpSynced(a), hpSynced(b), waitFor(() => reader.provider.isSynced, { what: 'reader synced' }), hpSynced(other)])

  a.provider.sendStateless(JSON.stringify({ type: 'ping', from: 'ann' }))
  await waitFor(() => b.events.stateless.length === 1 && reader.events.stateless.length === 1, { what: 'b and the reader to receive a\'s stateless message' })
  assert.deepEqual(JSON.parse(b.events.stateless[0]), { type: 'ping', from: 'ann' })
  assert.equal(a.events.stateless.length, 0, 'the sender does not hear its own message')

  reader.provider.sendStateless('from the reader, ünïcödé')
  await waitFor(() => a.events.stateless.length === 1 && b.events.stateless.length === 2, { what: 'the read-only session\'s stateless message' })
  assert.equal(a.events.stateless[0], 'from the reader, ünïcödé')
  // ... but its edits are still refused.
  reader.doc.getText('t').insert(0, 'nope')
  await sleep(400)
  assert.equal(a.doc.getText('t').toString(), '')
  assert.equal(other.events.stateless.length, 0, 'another document hears nothing')
})

test('stateless limits: over the size closes with 1009, over the rate is dropped', { timeout: 60000, skip }, async (t) => {
  const server = await startServer(t, { args: { extra: ['--max-stateless-size', '100', '--max-stateless-per-sec', '1', '--stateless-burst', '3'] } })
  const room = randomRoom('stateless-limits')
  const a = hpClient(t, server, room)
  const b = hpClient(t, server, room)
  await Promise.all([hpSynced(a), hpSynced(b)])
  for (let i = 0; i < 10; i++) a.provider.sendStateless(`m${i}`)
  await waitFor(() => b.events.stateless.length >= 3, { what: 'the burst to arrive' })
  await sleep(300)
  assert.ok(b.events.stateless.length < 10, `over the rate is dropped (got ${b.events.stateless.length})`)
  assert.deepEqual(b.events.stateless.slice(0, 3), ['m0', 'm1', 'm2'])
  assert.equal(a.events.closes.length, 0, 'a rate-limited sender stays connected')
  a.provider.sendStateless('x'.repeat(101))
  await waitFor(() => a.events.closes.some((c) => c.code === 1009), { what: () => `a 1009 close (closes=${JSON.stringify(a.events.closes)})` })
  assert.ok(server.log().includes('stateless'), 'the refusal is logged')
})

test('sessions API: lists who is connected (user, access, node, protocol, since); DELETE closes them with 4403', { timeout: 60000, skip }, async (t) => {
  const server = await startServer(t, { args: { extra: AUTH } })
  const room = randomRoom('sessions')
  const hp = hpClient(t, server, room, { token: mint(room, 'read', { user: 'hana' }).token })
  const ws = await wsSession(t, server, room, mint(room, 'write', { user: 'walt' }).token)
  await waitFor(() => hp.provider.isSynced, { what: 'hocuspocus synced' })

  assert.equal((await api(server, 'GET', `/api/v1/documents/${room}/sessions`, { key: null })).status, 401)
  assert.equal((await api(server, 'GET', `/api/v1/documents/${room}/sessions`, { key: 'wrong' })).status, 401)
  const list = await waitFor(async () => {
    const r = await sessionsOf(server, room)
    return r.body.sessions.length === 2 && r
  }, { what: 'two sessions listed' })
  assert.equal(list.status, 200)
  const byUser = Object.fromEntries(list.body.sessions.map((s) => [s.user, s]))
  assert.equal(byUser.hana.access, 'read')
  assert.equal(byUser.hana.protocol, 'hocuspocus')
  assert.equal(byUser.walt.access, 'write')
  assert.equal(byUser.walt.protocol, 'y-websocket')
  assert.equal(byUser.walt.node, list.body.nodes[0])
  assert.ok(Date.now() - Date.parse(byUser.walt.connected_at) < 60000)
  assert.deepEqual(list.body.missing, [])

  const closed = await api(server, 'DELETE', `/api/v1/documents/${room}/sessions`)
  assert.equal(closed.status, 200)
  assert.equal(closed.body.closed, 2)
  assert.equal((await waitClosed(ws, 2000)).code, 4403)
  await waitFor(() => hp.events.closes.some((c) => c.code === 4403), { what: () => `the hocuspocus socket closed with 4403 (${JSON.stringify(hp.events.closes)})` })
  // The provider reconnects and is admitted again (a permission change, not a ban).
  await waitFor(() => hp.events.authenticated.length >= 2, { what: 'the provider to be admitted again' })

  const openapi = await (await fetch(`${server.httpBase}/api/v1/openapi.json`)).json()
  assert.ok(openapi.paths['/api/v1/documents/{name}/sessions'].get)
  assert.ok(openapi.paths['/api/v1/documents/{name}/sessions'].delete)
  assert.ok(openapi.paths['/api/v1/tokens/revoked'].post)
})

test('revocation on one node: the token\'s sessions close with 4403 and it is refused after', { timeout: 60000, skip }, async (t) => {
  const server = await startServer(t, { args: { extra: AUTH } })
  const room = randomRoom('revoke')
  const doomed = mint(room, 'write', { user: 'eve' })
  const kept = mint(room, 'write', { user: 'kim' })
  const victim = await wsSession(t, server, room, doomed.token)
  const bystander = await wsSession(t, server, room, kept.token)
  const hp = hpClient(t, server, room, { token: doomed.token })
  await hpSynced(hp)

  const started = Date.now()
  const r = await api(server, 'POST', '/api/v1/tokens/revoked', { body: { jti: doomed.jti, expires_at: Math.floor(Date.now() / 1000) + 3600 } })
  assert.equal(r.status, 200, JSON.stringify(r.body))
  assert.equal(r.body.closed, 2)
  assert.equal((await waitClosed(victim, 1000)).code, 4403)
  await waitFor(() => hp.events.closes.some((c) => c.code === 4403), { timeout: 1000, what: 'the hocuspocus session closed' })
  console.log(`# revoked sessions closed after ${Date.now() - started} ms (one node)`)
  await waitFor(() => hp.events.failed.includes('token-revoked'), { what: () => `the reconnecting provider refused (${JSON.stringify(hp.events)})` })
  assert.equal(bystander.closeInfo, null, 'another token\'s session stays open')
  const again = rawSocket(t, `${server.serverUrl}/${room}?token=${doomed.token}`)
  await assert.rejects(again.opened, (e) => e.statusCode === 401)
  assert.equal((await api(server, 'POST', '/api/v1/tokens/revoked', { body: { jti: '' } })).status, 400)
  // By the token itself: its jti and expiry are read from it.
  const byToken = mint(room, 'read', { ttl: '2h' })
  const other = await wsSession(t, server, room, byToken.token)
  const r2 = await api(server, 'POST', '/api/v1/tokens/revoked', { body: { token: byToken.token } })
  assert.equal(r2.status, 200, JSON.stringify(r2.body))
  assert.equal(r2.body.jti, byToken.jti)
  assert.ok(Math.abs(r2.body.expires_at - (Date.now() / 1000 + 7200)) < 60, 'kept until the token expires')
  assert.equal((await waitClosed(other, 1000)).code, 4403)
  assert.equal((await api(server, 'POST', '/api/v1/tokens/revoked', { body: { token: 'garbage' } })).status, 400)
  assert.equal((await api(server, 'POST', '/api/v1/tokens/revoked', { body: { jti: 'x' }, key: null })).status, 401)
})

test('webhook events: document.loaded/unloaded and session.connected/disconnected with the user', { timeout: 60000, skip }, async (t) => {
  const received = []
  const receiver = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c) => { body += c })
    req.on('end', () => { received.push(JSON.parse(body)); res.end('ok') })
  })
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  t.after(() => receiver.close())
  const server = await startServer(t, {
    args: {
      extra: [...AUTH, '--webhook-url', `http://127.0.0.1:${receiver.address().port}/hook`, '--doc-idle', '300ms',
        '--webhook-events', 'document.loaded,document.unloaded,session.connected,session.disconnected', '--node-id', 'solo']
    }
  })
  const room = randomRoom('events')
  const ws = await wsSession(t, server, room, mint(room, 'write', { user: 'una' }).token)
  const hp = hpClient(t, server, room, { token: mint(room, 'read', { user: 'hal' }).token })
  await waitFor(() => hp.provider.isSynced, { what: 'synced' })
  ws.ws.close()
  hp.provider.destroy()
  const names = () => received.filter((e) => e.document === room).map((e) => `${e.event}:${e.user ?? ''}`)
  await waitFor(() => names().includes('document.unloaded:'), { what: () => `document.unloaded (got ${JSON.stringify(names())})` })
  const got = names()
  for (const want of ['document.loaded:', 'session.connected:una', 'session.connected:hal', 'session.disconnected:una', 'session.disconnected:hal', 'document.unloaded:']) {
    assert.ok(got.includes(want), `${want} in ${JSON.stringify(got)}`)
  }
  assert.ok(!got.some((e) => e.startsWith('document.changed')), 'document.changed is not in the list')
  const connected = received.find((e) => e.event === 'session.connected' && e.user === 'hal')
  assert.equal(connected.node, 'solo')
  assert.equal(connected.access, 'read')
  assert.equal(connected.protocol, 'hocuspocus')
  assert.ok(Date.parse(connected.at) > 0)
})

test('cluster: stateless messages between Hocuspocus providers on two nodes; sessions listed and closed across nodes', { timeout: 90000, skip: skipCluster }, async (t) => {
  const { nodes: [a, b] } = await twoNodes(t)
  const room = randomRoom('cluster-stateless')
  const onA = hpClient(t, a, room, { token: mint(room, 'write', { user: 'ada' }).token })
  const onB = hpClient(t, b, room, { token: mint(room, 'read', { user: 'ben' }).token })
  await Promise.all([hpSynced(onA), waitFor(() => onB.provider.isSynced, { what: 'onB synced' })])

  onA.provider.sendStateless('hello from node a')
  await waitFor(() => onB.events.stateless.includes('hello from node a'), { what: 'node b\'s provider to hear node a\'s' })
  onB.provider.sendStateless('and back (read-only)')
  await waitFor(() => onA.events.stateless.includes('and back (read-only)'), { what: 'node a\'s provider to hear node b\'s' })
  onA.doc.getText('t').insert(0, 'edit')
  await waitFor(() => onB.doc.getText('t').toString() === 'edit', { what: 'the edit to cross nodes' })

  const list = await sessionsOf(a, room)
  assert.equal(list.status, 200)
  assert.deepEqual(list.body.nodes.sort(), ['node-a', 'node-b'])
  assert.deepEqual(list.body.missing, [])
  assert.deepEqual(list.body.sessions.map((s) => `${s.user}@${s.node}`).sort(), ['ada@node-a', 'ben@node-b'])

  const closed = await api(a, 'DELETE', `/api/v1/documents/${room}/sessions`)
  assert.equal(closed.body.closed, 1)
  await waitFor(() => onB.events.closes.some((c) => c.code === 4403), { timeout: 2000, what: 'the session on node b closed with 4403' })
})

test('cluster: a revoked token\'s sessions close on both nodes within 1 s (API and weft token revoke)', { timeout: 90000, skip: skipCluster }, async (t) => {
  const { url, nodes: [a, b] } = await twoNodes(t)
  const room = randomRoom('cluster-revoke')

  for (const how of ['api', 'cli']) {
    const doomed = mint(room, 'write', { user: `eve-${how}` })
    const onA = await wsSession(t, a, room, doomed.token)
    const onB = await wsSession(t, b, room, doomed.token)
    const hpOnB = hpClient(t, b, room, { token: doomed.token })
    await hpSynced(hpOnB)
    const started = Date.now()
    if (how === 'api') {
      const r = await api(a, 'POST', '/api/v1/tokens/revoked', { body: { jti: doomed.jti } })
      assert.equal(r.status, 200, JSON.stringify(r.body))
    } else {
      execFileSync(WEFT_BIN, ['token', 'revoke', doomed.jti, '--database-url', url], { stdio: 'ignore' })
    }
    const [ca, cb] = await Promise.all([waitClosed(onA, 1000, 'node a session close'), waitClosed(onB, 1000, 'node b session close')])
    await waitFor(() => hpOnB.events.closes.some((c) => c.code === 4403), { timeout: Math.max(50, 1000 - (Date.now() - started)), what: 'node b hocuspocus close' })
    const ms = Date.now() - started
    console.log(`# revoked (${how}): sessions on both nodes closed after ${ms} ms`)
    assert.equal(ca.code, 4403)
    assert.equal(cb.code, 4403)
    assert.ok(ms <= 1000, `closed within 1 s (took ${ms} ms)`)
    for (const node of [a, b]) {
      const again = rawSocket(t, `${node.serverUrl}/${room}?token=${doomed.token}`)
      await assert.rejects(again.opened, (e) => e.statusCode === 401)
    }
    hpOnB.provider.destroy()
  }
  // A restarted node reads the revocations from the store before it admits anyone.
  const revoked = mint(room, 'write')
  await api(a, 'POST', '/api/v1/tokens/revoked', { body: { jti: revoked.jti } })
  await b.stop()
  await b.start()
  const again = rawSocket(t, `${b.serverUrl}/${room}?token=${revoked.token}`)
  await assert.rejects(again.opened, (e) => e.statusCode === 401)
})

test('weft token revoke on the embedded store: a running server closes the session at its next reload', { timeout: 60000, skip }, async (t) => {
  const server = await startServer(t, { args: { extra: [...AUTH, '--revocation-reload', '300ms'] } })
  const room = randomRoom('cli-revoke')
  const doomed = mint(room, 'write', { user: 'cli' })
  const session = await wsSession(t, server, room, doomed.token)
  execFileSync(WEFT_BIN, ['token', 'revoke', doomed.jti, '--data-dir', server.dataDir, '--ttl', '1h'], { stdio: 'ignore' })
  assert.equal((await waitClosed(session, 3000, 'the revoked session to close')).code, 4403)
  const again = rawSocket(t, `${server.serverUrl}/${room}?token=${doomed.token}`)
  await assert.rejects(again.opened, (e) => e.statusCode === 401)
})
