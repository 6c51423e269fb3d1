// Cross-node vs same-node delivery latency in a Weft cluster, with the real yjs/y-websocket
// client. One writer on the first node sets Y.Map "lat" keys to its send time at --rate per
// second; --observers clients on each node record when each change arrives.
//   node bench/cluster-latency.mjs --nodes ws://127.0.0.1:9001/ws,ws://127.0.0.1:9002/ws [--rate 50] [--seconds 10] [--observers 5]
// Prints a JSON summary (p50/p90/p99/max in ms per group: same-node, cross-node).
// Needs `npm ci` in tests/js (it borrows that install of yjs, y-websocket and ws).
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(join(here, '..', 'tests', 'js', 'package.json'))
const Y = require('yjs')
const { WebsocketProvider } = require('y-websocket')
const WebSocket = require('ws')

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]])
  return acc
}, []))
const nodes = (args.nodes || '').split(',').filter(Boolean)
if (nodes.length < 2) { console.error('give --nodes URL1,URL2[,...]'); process.exit(2) }
const rate = Number(args.rate || 50)
const seconds = Number(args.seconds || 10)
const perNode = Number(args.observers || 5)
const room = `cluster-lat-${Date.now().toString(36)}`

function client (url) {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(url, room, doc, { WebSocketPolyfill: WebSocket, disableBc: true })
  provider.awareness.setLocalState(null)
  return { doc, provider, synced: new Promise((resolve) => provider.once('sync', resolve)) }
}

const writer = client(nodes[0])
const observers = []
for (const [i, url] of nodes.entries()) {
  for (let k = 0; k < perNode; k++) {
    const c = client(url)
    c.group = i === 0 ? 'same-node' : 'cross-node'
    c.samples = []
    c.doc.getMap('lat').observe((ev) => {
      const now = performance.timeOrigin + performance.now()
      for (const key of ev.keysChanged) c.samples.push(now - c.doc.getMap('lat').get(key))
    })
    observers.push(c)
  }
}
await Promise.all([writer, ...observers].map((c) => c.synced))
const lat = writer.doc.getMap('lat')
let n = 0
const warmup = 1000
const started = Date.now()
await new Promise((resolve) => {
  const timer = setInterval(() => {
    lat.set(String(n++ % 1000), performance.timeOrigin + performance.now())
    if (Date.now() - started > seconds * 1000) { clearInterval(timer); resolve() }
  }, 1000 / rate)
})
await new Promise((resolve) => setTimeout(resolve, 1000))
const pct = (xs, p) => xs.length ? xs[Math.min(xs.length - 1, Math.floor(p / 100 * xs.length))] : null
const summary = { tool: 'cluster-latency', nodes: nodes.length, rate, seconds, observersPerNode: perNode, sent: n }
for (const group of ['same-node', 'cross-node']) {
  const xs = observers.filter((c) => c.group === group)
    .flatMap((c) => c.samples.slice(Math.floor(rate * warmup / 1000))).sort((a, b) => a - b)
  summary[group] = { samples: xs.length, p50: pct(xs, 50), p90: pct(xs, 90), p99: pct(xs, 99), max: xs[xs.length - 1] }
}
for (const c of [writer, ...observers]) c.provider.destroy()
console.log(JSON.stringify(summary, (k, v) => typeof v === 'number' ? Math.round(v * 10) / 10 : v))
process.exit(0)
