import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, makeClient, waitSynced, waitFor, randomRoom, canonical, Y } from '../lib/harness.mjs'

test('two clients converge on concurrent Y.Text and Y.Map edits; a late joiner gets everything', { timeout: 60000 }, async (t) => {
  const server = await startServer(t)
  const room = randomRoom('converge')
  const a = makeClient(t, server, room)
  const b = makeClient(t, server, room)
  await Promise.all([waitSynced(a), waitSynced(b)])

  const ta = a.doc.getText('text')
  const tb = b.doc.getText('text')
  const ma = a.doc.getMap('map')
  const mb = b.doc.getMap('map')

  // Concurrent edits: both sides edit before seeing the other's changes.
  ta.insert(0, 'Hello from A. ')
  tb.insert(0, 'Grüße von B 🦀. ')
  ma.set('shared', 'a')
  mb.set('shared', 'b')
  ma.set('onlyA', 1)
  mb.set('onlyB', { nested: [1, 2, 3] })
  for (let i = 0; i < 50; i++) {
    ta.insert(ta.length, `a${i} `)
    tb.insert(0, `b${i} `)
    if (i % 10 === 0) { ma.set(`a-${i}`, i); mb.set(`b-${i}`, i) }
  }
  ta.delete(0, 3)

  const snap = (c) => canonical({ text: c.doc.getText('text').toString(), map: c.doc.getMap('map').toJSON() })
  await waitFor(() => snap(a) === snap(b) && mb.has('onlyA') && ma.has('onlyB') && ma.has('a-40') && mb.has('b-40'), {
    timeout: 15000, what: () => `A and B to converge\nA=${snap(a)}\nB=${snap(b)}`
  })
  assert.ok(ta.toString().includes('a49'))
  assert.ok(ta.toString().includes('b49'))
  assert.ok(ta.toString().includes('🦀'))
  assert.deepEqual(ma.get('onlyB'), { nested: [1, 2, 3] })
  assert.ok(['a', 'b'].includes(ma.get('shared')))

  // Late joiner.
  const c = makeClient(t, server, room)
  await waitSynced(c)
  await waitFor(() => snap(c) === snap(a), { timeout: 10000, what: () => `late joiner to match\nA=${snap(a)}\nC=${snap(c)}` })
  assert.equal(Y.encodeStateVector(c.doc).length > 0, true)
  assert.deepEqual(Y.encodeStateVector(c.doc), Y.encodeStateVector(a.doc))
})
