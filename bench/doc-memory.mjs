// Document memory (issue 17): what an open, idle document costs a server, with the real yjs and
// y-websocket clients. For each server given (in turn, in one run):
//   1. fills --docs documents with the same generated history (--edits small random inserts and
//      deletes in one Y.Text, generated once; every document gets the same update bytes), the
//      filling client staying connected as the document's one idle client;
//   2. waits --settle seconds (longer than Weft's --hibernate-after) and reports the server's RSS
//      growth per document against the encoded size;
//   3. times a fresh client's full load (new Y.Doc to synced) of --fresh documents left idle
//      (hibernated on Weft), then of the same documents after an edit (live);
//   4. wakes --wakes other idle documents: an observer joins each, the idle client edits, and the
//      delay until the observer has the edit is recorded (first update after waking), then a
//      second edit (the document now live) for comparison. With --cursor-first MS the idle
//      client first moves its cursor (its awareness state), as an editor does when the user
//      clicks, and edits MS later; the time is still counted from the edit.
//   node bench/doc-memory.mjs --server weft=ws://127.0.0.1:9101/ws@PID --server ref=ws://127.0.0.1:9102@PID \
//        [--docs 40] [--edits 40000] [--settle 15] [--fresh 5] [--wakes 20] [--seed 17] [--unload 0]
//        [--cursor-first 0] [--rehibernate 0]
// --rehibernate S: every second fresh-load pair is measured live first, then idle again S
// seconds later (give Weft a shorter --hibernate-after in WEFT_ARGS), so neither kind always
// goes first.
// --unload S: then every client leaves, and the RSS is sampled again S seconds later (once the
// server unloaded the documents: give it more than its --doc-idle).
// stdout: a table per server, then the JSON summary as the last line. Needs `npm ci` in tests/js
// (it borrows that install of yjs, y-websocket and ws), like bench/cluster-latency.mjs.
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

const servers = []
const opts = { docs: 40, edits: 40000, settle: 15, fresh: 5, wakes: 20, seed: 17, unload: 0, 'cursor-first': 0, rehibernate: 0 }
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i]
  const v = process.argv[++i]
  if (a === '--server') {
    const m = /^([\w-]+)=(ws:\/\/[^@]+)@(\d+)$/.exec(v || '')
    if (!m) { console.error(`--server NAME=URL@PID, got ${v}`); process.exit(2) }
    servers.push({ name: m[1], url: m[2], pid: Number(m[3]) })
  } else if (a.startsWith('--') && a.slice(2) in opts) {
    opts[a.slice(2)] = Number(v)
  } else {
    console.error(`unknown option ${a}; see the header of ${fileURLToPath(import.meta.url)}`)
    process.exit(2)
  }
}
if (servers.length === 0) { console.error('give at least one --server NAME=URL@PID'); process.exit(2) }
if (opts.fresh + opts.wakes > opts.docs) { console.error('--fresh + --wakes must not exceed --docs'); process.exit(2) }

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const log = (...a) => console.error(`[doc-memory ${new Date().toISOString().slice(11, 19)}]`, ...a)
const MiB = 1024 * 1024

function rssBytes (pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(m[1]) * 1024
}

/** mulberry32: the same history for every run with the same seed. */
function prng (seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** One document's history: `edits` transactions, 3 in 4 an insert of 1-6 letters, else a delete of 1-2. */
function generate (edits, seed) {
  const rnd = prng(seed)
  const doc = new Y.Doc()
  const text = doc.getText('t')
  const letters = 'abcdefghijklmnopqrstuvwxyz     '
  for (let i = 0; i < edits; i++) {
    const len = text.length
    if (len > 2 && rnd() < 0.25) {
      const n = 1 + Math.floor(rnd() * 2)
      text.delete(Math.floor(rnd() * (len - n)), n)
    } else {
      let s = ''
      for (let k = 1 + Math.floor(rnd() * 6); k > 0; k--) s += letters[Math.floor(rnd() * letters.length)]
      text.insert(Math.floor(rnd() * (len + 1)), s)
    }
  }
  const update = Y.encodeStateAsUpdate(doc)
  return { update, chars: text.length }
}

function connect (url, room, doc) {
  const provider = new WebsocketProvider(url, room, doc, { WebSocketPolyfill: WebSocket, disableBc: true, maxBackoffTime: 500 })
  const synced = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${url}/${room}: not synced within 60 s`)), 60000)
    provider.on('sync', (isSynced) => { if (isSynced) { clearTimeout(timer); resolve() } })
  })
  return { provider, doc, synced }
}

/** A fresh client's full load: new Y.Doc to synced, in ms; checks the length it got. */
async function freshLoad (url, room, chars) {
  const started = performance.now()
  const c = connect(url, room, new Y.Doc())
  await c.synced
  const ms = performance.now() - started
  const got = c.doc.getText('t').length
  c.provider.destroy()
  c.doc.destroy()
  if (got !== chars) throw new Error(`${room}: a fresh client got ${got} characters, expected ${chars}`)
  return ms
}

/** The idle client edits; resolves with the ms until the observer has the edit. */
function delivered (writer, observer, marker) {
  return new Promise((resolve, reject) => {
    const text = observer.doc.getText('t')
    const timer = setTimeout(() => reject(new Error(`edit ${marker} not delivered within 10 s`)), 10000)
    let started = 0
    const check = () => {
      if (text.toString().startsWith(marker)) {
        clearTimeout(timer)
        text.unobserve(check)
        resolve(performance.now() - started)
      }
    }
    text.observe(check)
    started = performance.now()
    writer.doc.getText('t').insert(0, marker)
  })
}

function pct (values, p) {
  const s = [...values].sort((a, b) => a - b)
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : null
}
const r1 = (x) => Math.round(x * 10) / 10
const stats = (v) => ({ n: v.length, p50: r1(pct(v, 50)), p99: r1(pct(v, 99)), max: r1(Math.max(...v)) })

async function hibernatedCount (url) {
  const http = url.replace(/^ws/, 'http').replace(/\/ws$/, '') + '/metrics'
  try {
    const body = await (await fetch(http)).text()
    const m = /weft_documents\{state="hibernated"\} (\d+)/.exec(body)
    return m ? Number(m[1]) : null
  } catch { return null }
}

async function measure (server, history) {
  const room = `docmem-${server.name}-${Date.now().toString(36)}`
  await sleep(1000)
  const baseline = rssBytes(server.pid)
  log(`${server.name}: baseline RSS ${r1(baseline / MiB)} MiB; filling ${opts.docs} documents`)
  const idle = []
  for (let i = 0; i < opts.docs; i++) {
    const doc = new Y.Doc()
    Y.applyUpdate(doc, history.update)
    const c = connect(server.url, `${room}-${i}`, doc)
    await c.synced
    idle.push(c)
  }
  // The filler's own state reaches the server right after its sync step 1 is answered; check
  // it arrived before measuring (a fresh client must get every character).
  await sleep(2000)
  const filled = rssBytes(server.pid)
  log(`${server.name}: filled, RSS ${r1(filled / MiB)} MiB; waiting ${opts.settle} s with one idle client each`)
  await sleep(opts.settle * 1000)
  const settled = rssBytes(server.pid)
  const hibernated = await hibernatedCount(server.url)
  const growth = settled - baseline
  const encoded = history.update.length * opts.docs
  log(`${server.name}: settled, RSS ${r1(settled / MiB)} MiB (${hibernated ?? 'n/a'} hibernated); fresh loads`)

  // Interleaved, so that neither kind is measured on a quieter machine: a fresh client loads
  // an idle (hibernated) document, then the same document just after an edit (live).
  const freshIdle = []
  const freshLive = []
  const chars = history.chars
  for (let i = 0; i < opts.fresh; i++) {
    if (opts.rehibernate > 0 && i % 2 === 1) {
      // The other order: live first, then idle again once the server had --rehibernate s
      // (longer than its --hibernate-after) to put the document back to sleep.
      idle[i].doc.getText('t').insert(0, 'x')
      await sleep(300)
      freshLive.push(await freshLoad(server.url, `${room}-${i}`, chars + 1))
      await sleep(opts.rehibernate * 1000)
      freshIdle.push(await freshLoad(server.url, `${room}-${i}`, chars + 1))
      continue
    }
    freshIdle.push(await freshLoad(server.url, `${room}-${i}`, chars))
    idle[i].doc.getText('t').insert(0, 'x') // wakes it
    await sleep(300)
    freshLive.push(await freshLoad(server.url, `${room}-${i}`, chars + 1))
  }

  log(`${server.name}: ${opts.wakes} wake-ups`)
  const wake = []
  const live = []
  for (let k = 0; k < opts.wakes; k++) {
    const i = opts.fresh + k
    const observer = connect(server.url, `${room}-${i}`, new Y.Doc())
    await observer.synced
    await sleep(100)
    if (opts['cursor-first'] > 0) {
      idle[i].provider.awareness.setLocalStateField('cursor', { index: k })
      await sleep(opts['cursor-first'])
    }
    wake.push(await delivered(idle[i], observer, `w${k}.`))
    await sleep(50)
    live.push(await delivered(idle[i], observer, `l${k}.`))
    observer.provider.destroy()
    observer.doc.destroy()
  }
  const after = rssBytes(server.pid)
  for (const c of idle) { c.provider.destroy(); c.doc.destroy() }
  let unloaded = null
  if (opts.unload > 0) {
    log(`${server.name}: every client left; waiting ${opts.unload} s`)
    await sleep(opts.unload * 1000)
    unloaded = r1(rssBytes(server.pid) / MiB)
  }
  return {
    server: server.name,
    docs: opts.docs,
    encodedBytesPerDoc: history.update.length,
    rssBaselineMiB: r1(baseline / MiB),
    rssFilledMiB: r1(filled / MiB),
    rssSettledMiB: r1(settled / MiB),
    rssAfterWakesMiB: r1(after / MiB),
    rssUnloadedMiB: unloaded,
    hibernatedDocs: hibernated,
    growthPerDocMiB: Math.round((growth / opts.docs / MiB) * 100) / 100,
    growthOverEncoded: Math.round((growth / encoded) * 100) / 100,
    freshLoadIdleMs: stats(freshIdle),
    freshLoadLiveMs: stats(freshLive),
    firstUpdateAfterWakeMs: stats(wake),
    updateOnLiveMs: stats(live)
  }
}

const started = performance.now()
const history = generate(opts.edits, opts.seed)
log(`history: ${opts.edits} edits, ${history.chars} characters, ${r1(history.update.length / 1024)} KiB encoded (${r1((performance.now() - started) / 1000)} s to generate)`)
const results = []
for (const server of servers) results.push(await measure(server, history))
for (const r of results) {
  console.log(`\n${r.server}: ${r.docs} documents of ${r1(r.encodedBytesPerDoc / 1024)} KiB encoded, one idle client each`)
  console.log(`  RSS baseline ${r.rssBaselineMiB} MiB, filled ${r.rssFilledMiB}, settled ${r.rssSettledMiB} (${r.hibernatedDocs ?? 'n/a'} hibernated), after wakes ${r.rssAfterWakesMiB}, unloaded ${r.rssUnloadedMiB ?? 'n/a'}`)
  console.log(`  growth ${r.growthPerDocMiB} MiB per document = ${r.growthOverEncoded}x the encoded size`)
  console.log(`  fresh full load: idle ${JSON.stringify(r.freshLoadIdleMs)} ms, live ${JSON.stringify(r.freshLoadLiveMs)} ms`)
  console.log(`  first update after wake: ${JSON.stringify(r.firstUpdateAfterWakeMs)} ms; next update: ${JSON.stringify(r.updateOnLiveMs)} ms`)
}
console.log(JSON.stringify({ tool: 'doc-memory', options: opts, chars: history.chars, encodedBytes: history.update.length, results }))
process.exit(0)
