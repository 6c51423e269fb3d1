// Memory under document churn (issue 17): does a server give back what short-lived documents
// used? Waves of --wave new documents, each with --clients real y-websocket clients making
// --edits small edits each, then all leaving; the server unloads each document --doc-idle after
// (its own setting). Samples the server's RSS after every wave and, at the end, until it has
// unloaded everything (or --drain seconds pass).
//   node bench/doc-churn.mjs --url ws://127.0.0.1:9101/ws --pid PID [--docs 10000] [--wave 20]
//        [--clients 3] [--edits 30] [--drain 30]
// stdout: RSS at the start, after each tenth of the documents, at the end and after the drain,
// then the JSON summary as the last line. Needs `npm ci` in tests/js (like bench/cluster-latency.mjs).
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { readFileSync } from 'node:fs'

process.setMaxListeners(0) // every provider adds an exit listener
const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(join(here, '..', 'tests', 'js', 'package.json'))
const Y = require('yjs')
const { WebsocketProvider } = require('y-websocket')
const WebSocket = require('ws')

const opts = { url: '', pid: 0, docs: 10000, wave: 20, clients: 3, edits: 30, drain: 30 }
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '')
  if (!(k in opts)) { console.error(`unknown option ${process.argv[i]}`); process.exit(2) }
  opts[k] = k === 'url' ? process.argv[i + 1] : Number(process.argv[i + 1])
}
if (!opts.url || !opts.pid) { console.error('give --url and --pid'); process.exit(2) }

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const log = (...a) => console.error(`[doc-churn ${new Date().toISOString().slice(11, 19)}]`, ...a)
const rssMiB = () => Math.round(Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${opts.pid}/status`, 'utf8'))[1]) / 102.4) / 10
const metricsUrl = opts.url.replace(/^ws/, 'http').replace(/\/ws$/, '') + '/metrics'
async function loaded () {
  try {
    const m = /^weft_documents_loaded (\d+)/m.exec(await (await fetch(metricsUrl)).text())
    return m ? Number(m[1]) : null
  } catch { return null }
}

function client (room) {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(opts.url, room, doc, { WebSocketPolyfill: WebSocket, disableBc: true })
  const synced = new Promise((resolve) => provider.on('sync', (s) => s && resolve()))
  return { doc, provider, synced }
}

async function wave (prefix) {
  const docs = []
  for (let d = 0; d < opts.wave; d++) {
    const cs = []
    for (let c = 0; c < opts.clients; c++) cs.push(client(`${prefix}-${d}`))
    docs.push(cs)
  }
  const all = docs.flat()
  await Promise.all(all.map((c) => c.synced))
  for (let e = 0; e < opts.edits; e++) {
    for (const c of all) c.doc.getText('t').insert(0, `${e % 10}`)
    await sleep(5)
  }
  // Every client has every edit of its document: the server committed and relayed them all.
  const want = opts.clients * opts.edits
  const until = Date.now() + 20000
  while (all.some((c) => c.doc.getText('t').length < want) && Date.now() < until) await sleep(10)
  for (const c of all) { c.provider.destroy(); c.doc.destroy() }
}

const run = Date.now().toString(36)
const samples = [{ docs: 0, rssMiB: rssMiB(), loaded: await loaded() }]
log(`start: RSS ${samples[0].rssMiB} MiB`)
const waves = Math.ceil(opts.docs / opts.wave)
const started = Date.now()
for (let w = 0; w < waves; w++) {
  await wave(`churn-${run}-${w}`)
  const docs = (w + 1) * opts.wave
  if ((w + 1) % Math.max(1, Math.floor(waves / 10)) === 0 || w === waves - 1) {
    const s = { docs, rssMiB: rssMiB(), loaded: await loaded(), seconds: Math.round((Date.now() - started) / 1000) }
    samples.push(s)
    log(`${docs} documents: RSS ${s.rssMiB} MiB, ${s.loaded ?? '?'} loaded, ${s.seconds} s`)
  }
}
const drainUntil = Date.now() + opts.drain * 1000
while (Date.now() < drainUntil) {
  await sleep(1000)
  if ((await loaded()) === 0) break
}
await sleep(Math.min(12000, Math.max(0, drainUntil - Date.now()))) // give an allocator's decay time to purge
const end = { docs: waves * opts.wave, rssMiB: rssMiB(), loaded: await loaded(), drained: true }
samples.push(end)
const half = samples.find((s) => s.docs >= (waves * opts.wave) / 2)
const last = samples[samples.length - 2]
console.log(`start ${samples[0].rssMiB} MiB; at ${half.docs} documents ${half.rssMiB}; at ${last.docs} ${last.rssMiB}; drained (${end.loaded ?? '?'} loaded) ${end.rssMiB}`)
console.log(`second half added ${Math.round((last.rssMiB - half.rssMiB) * 10) / 10} MiB; drained is baseline + ${Math.round((end.rssMiB - samples[0].rssMiB) * 10) / 10} MiB`)
console.log(JSON.stringify({ tool: 'doc-churn', options: { ...opts, url: undefined }, samples, secondHalfMiB: Math.round((last.rssMiB - half.rssMiB) * 10) / 10, drainedOverBaselineMiB: Math.round((end.rssMiB - samples[0].rssMiB) * 10) / 10 }))
process.exit(0)
