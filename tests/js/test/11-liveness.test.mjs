import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  startServer, makeClient, waitSynced, waitFor, randomRoom, syncStep1Message, WebSocket,
  awarenessMessage, rawAwarenessUpdate, supportsFlag, sleep, IS_REFERENCE
} from '../lib/harness.mjs'

const PING = '200ms'
const IDLE_MS = 1500

test('idle timeout: a peer that never answers pings is dropped (awareness removed); a quiet but live provider stays', {
  timeout: 60000,
  skip: (IS_REFERENCE && 'the reference server has a fixed 30 s ping timeout') ||
    ((!supportsFlag('--idle-timeout') || !supportsFlag('--ping-interval')) && 'this Weft build has no --idle-timeout/--ping-interval')
}, async (t) => {
  const server = await startServer(t, { args: { extra: ['--ping-interval', PING, '--idle-timeout', `${IDLE_MS}ms`] } })
  const room = randomRoom('idle')
  const observer = makeClient(t, server, room)
  const quiet = makeClient(t, server, room)
  await Promise.all([waitSynced(observer), waitSynced(quiet)])
  quiet.awareness.setLocalStateField('user', { name: 'quiet' })

  // A "half-open" peer: it syncs and announces itself, then never sends anything again, not even pongs.
  const deadID = 888000 + Math.floor(Math.random() * 1000)
  const dead = new WebSocket(server.wsUrl(room), { autoPong: false })
  t.after(() => dead.terminate())
  const deadClose = new Promise((resolve) => dead.on('close', (code) => resolve(code)))
  dead.on('error', () => {})
  await new Promise((resolve, reject) => { dead.once('open', resolve); dead.once('error', reject) })
  dead.send(syncStep1Message())
  dead.send(awarenessMessage(rawAwarenessUpdate(deadID, 1, JSON.stringify({ user: { name: 'dead' } }))))
  await waitFor(() => observer.awareness.getStates().get(deadID)?.user?.name === 'dead', { timeout: 10000, what: 'observer to see the silent peer' })
  const t0 = Date.now()
  await waitFor(() => !observer.awareness.getStates().has(deadID), { timeout: IDLE_MS + 5000, what: 'silent peer to be dropped and its awareness removed' })
  const droppedAfter = Date.now() - t0
  const code = await Promise.race([deadClose, sleep(5000).then(() => 'not closed')])
  t.diagnostic(`silent peer dropped after ${droppedAfter} ms; its close code ${code}`)
  assert.notEqual(code, 'not closed', 'the silent peer\'s socket was not closed')

  // The live providers answered every ping (ws does so automatically) and must still be connected,
  // although the quiet one has sent nothing since its awareness update.
  await sleep(IDLE_MS)
  assert.deepEqual(quiet.closeEvents, [], 'a live provider that answers pings was closed as idle')
  assert.deepEqual(observer.closeEvents, [], 'observer was closed')
  assert.equal(observer.awareness.getStates().get(quiet.doc.clientID)?.user?.name, 'quiet')
  quiet.doc.getText('t').insert(0, 'still here')
  await waitFor(() => observer.doc.getText('t').toString() === 'still here', { timeout: 5000, what: 'quiet provider to still sync' })
})

test('document unload/reload race: reconnecting around --doc-idle never loses or duplicates data', {
  timeout: 90000,
  skip: (IS_REFERENCE && 'the reference server has no --doc-idle') ||
    (!supportsFlag('--doc-idle') && 'this Weft build has no --doc-idle')
}, async (t) => {
  const IDLE = 60
  const server = await startServer(t, { args: { extra: ['--doc-idle', `${IDLE}ms`] } })
  const room = randomRoom('unload')
  const ROUNDS = 25
  for (let i = 0; i < ROUNDS; i++) {
    const c = makeClient(t, server, room)
    await waitSynced(c)
    const arr = c.doc.getArray('items')
    assert.deepEqual(arr.toArray(), Array.from({ length: i }, (_, k) => `round-${k}`), `round ${i}: document content after reconnect`)
    arr.push([`round-${i}`])
    // A second connection confirms the server has it, then both leave.
    const check = makeClient(t, server, room)
    await waitFor(() => check.doc.getArray('items').length === i + 1, { timeout: 10000, what: `round ${i}: item to reach the server` })
    c.provider.destroy()
    check.provider.destroy()
    // Come back before, around, or after the unload.
    await sleep((i * 7) % (IDLE * 2))
  }
})
