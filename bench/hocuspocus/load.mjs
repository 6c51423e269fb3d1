#!/usr/bin/env node
// Load generator for a Hocuspocus-protocol server, with the real @hocuspocus/provider.
// Run `node load.mjs --help` for the options; see README.md for what the figures mean.
import { isMainThread, Worker, workerData, parentPort } from 'node:worker_threads'
import { performance } from 'node:perf_hooks'
import { readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import * as Y from 'yjs'
import WebSocket from 'ws'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'

const TOOL = 'hocuspocus-load'
const USAGE = `usage: node load.mjs --url ws://127.0.0.1:PORT/PATH [options]

Opens --clients HocuspocusProviders (each on its own HocuspocusProviderWebsocket,
'ws' as the WebSocket implementation) on one document, hosted by --workers
worker threads. Every client writes: in total --rate edits/s, open loop, spread
evenly over the clients (edit k is due at start + k/rate, made by client
k mod clients). An edit is one Yjs transaction that inserts --edit-size
characters into Y.Text "text" at a random position and sets one of the
writer's 16 keys of Y.Map "lat" to {t, id, seq, w} (t = the sender's clock in
ms when it applied the edit, shared by all threads). Every other client
observes the map change and records latency = its clock at delivery - t.
Edits due in the first --warmup seconds are excluded; the figures cover the
edits due in the next --duration seconds. Afterwards it waits (at most
--drain-timeout s) until every client holds every edit (same text, expected
length) and has no unacknowledged changes.

Prints progress to stderr and, as the last line of stdout, one JSON summary:
  {"tool":"${TOOL}","ok":…,"serverCpuSeconds":…,"latencyMs":{p50,p90,p99,max,count},
   "deliveredPerSec":…,"clients":…,"rate":…,"converged":…,"serverRssKiB":…, …}
ok = every client connected and synced, no disconnects, converged, and at
least 99% of the expected deliveries (edits x (clients-1)) were observed.
Exit status 0 when ok, 1 when not, 2 for bad options.

Options:
  --url URL              ws://127.0.0.1:PORT/PATH (required; 127.0.0.1 or localhost only)
                         Weft: ws://127.0.0.1:PORT/hocuspocus, Hocuspocus server: ws://127.0.0.1:PORT/
  --clients N            providers on the document (default 50, 2..2000)
  --doc NAME             document name (default hp-bench-<random>)
  --rate R               edits/s in total over all clients (default 200)
  --warmup S             seconds of editing excluded from the figures (default 3)
  --duration S           measured seconds of editing after the warmup (default 12)
  --server-pid PID       sample this process's CPU time (/proc/PID/stat utime+stime)
                         at the start and end of the measured window, and its RSS
  --workers W            worker threads hosting the clients, dealt round-robin (default 1)
  --token T              token each provider sends (default "bench"; open servers ignore it)
  --edit-size N          characters per insert (default 3)
  --awareness on|off     keep the provider's default awareness (on, default) or pass
                         awareness: null (off: only document updates flow)
  --connect-timeout S    seconds for all clients to connect and sync (default 30)
  --drain-timeout S      seconds to wait for convergence after editing (default 15)
  --seed N               PRNG seed for insert positions (default 1)
  --help                 this text`

const LAT_KEYS = 16 // each writer cycles through 16 keys of Y.Map "lat"
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz      eeettaoin.,'
const clock = () => performance.timeOrigin + performance.now()
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const r1 = (x) => Math.round(x * 10) / 10
const r3 = (x) => Math.round(x * 1000) / 1000

if (isMainThread) await main()
else await worker()

// ---------------------------------------------------------------------------
// Options
function parseArgs (argv) {
  const SPEC = {
    url: { type: 'string', def: '' },
    clients: { type: 'int', def: 50 },
    doc: { type: 'string', def: '' },
    rate: { type: 'float', def: 200 },
    warmup: { type: 'float', def: 3 },
    duration: { type: 'float', def: 12 },
    'server-pid': { type: 'int', def: 0 },
    workers: { type: 'int', def: 1 },
    token: { type: 'string', def: 'bench' },
    'edit-size': { type: 'int', def: 3 },
    awareness: { type: 'string', def: 'on' },
    'connect-timeout': { type: 'float', def: 30 },
    'drain-timeout': { type: 'float', def: 15 },
    seed: { type: 'int', def: 1 }
  }
  const out = {}
  for (const [k, s] of Object.entries(SPEC)) out[k] = s.def
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i]
    if (a === '--help' || a === '-h') { console.log(USAGE); process.exit(0) }
    if (!a.startsWith('--')) usageError(`unexpected argument ${a}`)
    a = a.slice(2)
    let v
    const eq = a.indexOf('=')
    if (eq !== -1) { v = a.slice(eq + 1); a = a.slice(0, eq) } else v = argv[++i]
    const s = SPEC[a]
    if (!s) usageError(`unknown option --${a}`)
    if (v === undefined) usageError(`--${a} needs a value`)
    if (s.type === 'int') { v = Number(v); if (!Number.isInteger(v)) usageError(`--${a} must be an integer`) }
    if (s.type === 'float') { v = Number(v); if (!Number.isFinite(v)) usageError(`--${a} must be a number`) }
    out[a] = v
  }
  if (!out.url) usageError('--url is required')
  let u
  try { u = new URL(out.url) } catch { usageError(`bad --url ${out.url}`) }
  if (u.protocol !== 'ws:') usageError('--url must be ws://')
  if (!['127.0.0.1', 'localhost'].includes(u.hostname)) usageError('--url must point at 127.0.0.1 (this tool only loads a local server)')
  if (out.clients < 2 || out.clients > 2000) usageError('--clients must be 2..2000')
  if (!(out.rate > 0 && out.rate <= 20000)) usageError('--rate must be in (0, 20000]')
  if (!(out.warmup >= 0 && out.warmup <= 600)) usageError('--warmup must be 0..600')
  if (!(out.duration > 0 && out.duration <= 3600)) usageError('--duration must be in (0, 3600]')
  if (out.workers < 1 || out.workers > 16 || out.workers > out.clients) usageError('--workers must be 1..16 and at most --clients')
  if (out['edit-size'] < 1 || out['edit-size'] > 1000) usageError('--edit-size must be 1..1000')
  if (!['on', 'off'].includes(out.awareness)) usageError('--awareness must be on or off')
  if (!(out['connect-timeout'] > 0 && out['connect-timeout'] <= 600)) usageError('--connect-timeout must be in (0, 600]')
  if (!(out['drain-timeout'] >= 0 && out['drain-timeout'] <= 600)) usageError('--drain-timeout must be 0..600')
  if (out['server-pid'] < 0) usageError('--server-pid must be a process id')
  if (!out.doc) out.doc = `hp-bench-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`
  return out
}

function usageError (msg) {
  console.error(`load.mjs: ${msg}\n\n${USAGE}`)
  process.exit(2)
}

// ---------------------------------------------------------------------------
// Main thread: options, workers, the server's CPU and memory, the summary.
async function main () {
  const opt = parseArgs(process.argv.slice(2))
  const N = opt.clients
  const PID = opt['server-pid']
  const log = (...a) => console.error(`[${TOOL}]`, ...a)

  let CLK_TCK = 100
  try { CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100 } catch {}
  const serverTicks = () => {
    if (!PID) return null
    try {
      const stat = readFileSync(`/proc/${PID}/stat`, 'utf8')
      // After "(comm) ": field 3 (state) is index 0, so utime (14) and stime (15) are 11 and 12.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      return Number(rest[11]) + Number(rest[12])
    } catch { return null }
  }
  const serverMem = () => {
    if (!PID) return { rss: null, hwm: null }
    try {
      const status = readFileSync(`/proc/${PID}/status`, 'utf8')
      const kib = (k) => { const m = status.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm')); return m ? Number(m[1]) : null }
      return { rss: kib('VmRSS'), hwm: kib('VmHWM') }
    } catch { return { rss: null, hwm: null } }
  }
  if (PID && serverTicks() === null) usageError(`cannot read /proc/${PID}/stat`)

  log(`${N} clients -> ${opt.url} document ${opt.doc}; ${opt.rate} edits/s, warmup ${opt.warmup} s, window ${opt.duration} s, ${opt.workers} worker thread(s)`)
  const workers = []
  const state = [] // per worker: latest progress, done message
  let finished = false
  const onMessage = new Set()
  for (let w = 0; w < opt.workers; w++) {
    const worker = new Worker(new URL(import.meta.url), { workerData: { opt, w } })
    state.push({ ready: null, progress: { sent: 0, delivered: 0 }, done: null, error: null })
    worker.on('message', (m) => {
      const s = state[w]
      if (m.type === 'ready') s.ready = m
      else if (m.type === 'progress') s.progress = m
      else if (m.type === 'done') s.done = m
      else if (m.type === 'log') log(m.text)
      for (const f of onMessage) f()
    })
    worker.on('error', (e) => { state[w].error = String(e?.stack || e); log(`worker ${w} failed: ${e?.stack || e}`); for (const f of onMessage) f() })
    worker.on('exit', (code) => { if (!state[w].done && !state[w].error) state[w].error = `worker exited (${code})`; for (const f of onMessage) f() })
    workers.push(worker)
  }
  const until = (cond, ms) => new Promise((resolve) => {
    if (cond()) return resolve(true)
    const check = () => { if (cond()) { cleanup(); resolve(true) } }
    const timer = setTimeout(() => { cleanup(); resolve(cond()) }, ms)
    const cleanup = () => { clearTimeout(timer); onMessage.delete(check) }
    onMessage.add(check)
  })

  let windowInfo = null
  let cpu0 = null
  let finalMem = { rss: null, hwm: null }
  const finish = (extra = {}) => {
    if (finished) return
    finished = true
    const dones = state.map((s) => s.done).filter(Boolean)
    const allDone = dones.length === opt.workers
    let latCount = 0
    for (const d of dones) latCount += d.lat.length
    const lat = new Float64Array(latCount)
    let off = 0
    for (const d of dones) { lat.set(d.lat, off); off += d.lat.length }
    lat.sort()
    const pct = (p) => lat.length ? r3(lat[Math.min(lat.length - 1, Math.max(0, Math.ceil((p / 100) * lat.length) - 1))]) : null
    const sum = (k) => dones.reduce((n, d) => n + d.counters[k], 0)
    const counters = {}
    for (const k of ['sentTotal', 'sentWindow', 'deliveredTotal', 'deliveredWindow', 'disconnects', 'closes', 'authFailures', 'framesInWindow', 'bytesInWindow', 'latDropped']) counters[k] = sum(k)
    const expectedChars = Math.round(opt.rate * (opt.warmup + opt.duration)) * opt['edit-size']
    const texts = dones.map((d) => d.text)
    const converged = allDone && dones.every((d) => d.sameText && d.allFull) && texts.every((t) => t === texts[0])
    const unacked = dones.reduce((n, d) => n + d.unacked, 0)
    const authenticated = dones.reduce((n, d) => n + d.authenticated, 0)
    const expectedDeliveries = counters.sentWindow * (N - 1)
    const deliveryRatio = expectedDeliveries ? counters.deliveredWindow / expectedDeliveries : 0
    const windowS = windowInfo?.wallS ?? null
    const cpuSeconds = windowInfo && windowInfo.t0 !== null && windowInfo.t1 !== null ? (windowInfo.t1 - windowInfo.t0) / CLK_TCK : null
    const errors = [extra.error, ...state.map((s) => s.error)].filter(Boolean)
    const ok = errors.length === 0 && allDone && authenticated === N && counters.disconnects === 0 &&
      counters.authFailures === 0 && converged && unacked === 0 && deliveryRatio >= 0.99
    const summary = {
      tool: TOOL,
      ok,
      serverCpuSeconds: cpuSeconds === null ? null : r3(cpuSeconds),
      latencyMs: { p50: pct(50), p90: pct(90), p99: pct(99), max: lat.length ? r3(lat[lat.length - 1]) : null, count: lat.length },
      deliveredPerSec: windowInfo ? r1(counters.deliveredWindow / opt.duration) : null,
      clients: N,
      rate: opt.rate,
      converged,
      serverRssKiB: finalMem.rss,
      serverPeakRssKiB: finalMem.hwm,
      serverCpuPercent: cpuSeconds === null || !windowS ? null : r1(100 * cpuSeconds / windowS),
      url: opt.url,
      doc: opt.doc,
      serverPid: PID || null,
      warmupS: opt.warmup,
      durationS: opt.duration,
      windowWallS: windowS === null ? null : r3(windowS),
      sentPerSec: r1(counters.sentWindow / opt.duration),
      deliveryRatio: r3(deliveryRatio),
      framesInPerSec: windowS ? r1(counters.framesInWindow / windowS) : null,
      textLength: texts[0]?.length ?? 0,
      expectedTextLength: expectedChars,
      unackedClients: unacked,
      authenticatedClients: authenticated,
      providerScopes: [...new Set(dones.flatMap((d) => d.scopes))],
      counters,
      workers: opt.workers,
      loadgenCpuSeconds: windowInfo?.loadCpuS ?? null,
      loadgenEventLoopUtilization: dones.length ? r3(Math.max(...dones.map((d) => d.elu ?? 0))) : null,
      awareness: opt.awareness,
      node: process.version,
      ...(errors.length ? { errors } : {})
    }
    log(`${ok ? 'OK' : 'FAILED'}: server cpu ${summary.serverCpuSeconds} s, p50 ${summary.latencyMs.p50} ms, p99 ${summary.latencyMs.p99} ms, ` +
      `${summary.deliveredPerSec} deliveries/s (${(deliveryRatio * 100).toFixed(2)}%), converged ${converged}${errors.length ? `, errors: ${errors.join('; ')}` : ''}`)
    for (const w of workers) w.terminate().catch(() => {})
    process.stdout.write(JSON.stringify(summary) + '\n', () => process.exit(ok ? 0 : 1))
    setTimeout(() => process.exit(ok ? 0 : 1), 3000).unref()
  }
  process.on('SIGINT', () => finish({ error: 'interrupted' }))
  process.on('SIGTERM', () => finish({ error: 'terminated' }))
  // Whatever happens, the process ends in bounded time.
  const hard = setTimeout(() => finish({ error: 'hard deadline reached' }),
    (opt['connect-timeout'] + opt.warmup + opt.duration + opt['drain-timeout'] + 30) * 1000)
  hard.unref()

  // 1. Every worker connects and syncs its clients.
  const t0 = Date.now()
  const failed = () => state.some((s) => s.error)
  await until(() => failed() || state.every((s) => s.ready), (opt['connect-timeout'] + 5) * 1000)
  const ready = state.reduce((n, s) => n + (s.ready?.synced ?? 0), 0)
  if (failed() || ready !== N) {
    // Let the workers report what they have, for the summary.
    for (const w of workers) w.postMessage({ type: 'abort' })
    await until(() => state.every((s) => s.done || s.error), 5000)
    return finish({ error: `only ${ready}/${N} clients connected and synced` })
  }
  log(`all ${N} clients synced in ${Date.now() - t0} ms`)
  await sleep(500) // let the initial awareness exchange settle

  // 2. Editing, timed by the workers; the window is sampled here.
  const start = clock() + 100
  const windowStart = start + opt.warmup * 1000
  const windowEnd = windowStart + opt.duration * 1000
  for (const w of workers) w.postMessage({ type: 'start', start })
  windowInfo = { t0: null, t1: null, wallS: null, loadCpuS: null }
  const total = Math.round(opt.rate * (opt.warmup + opt.duration))
  let lastLog = clock()
  let lastDelivered = 0
  let at = clock()
  let loadCpu0 = null
  while (at < windowEnd && !finished) {
    if (windowInfo.t0 === null && at >= windowStart) {
      windowInfo.t0 = serverTicks()
      windowInfo.wallStart = at
      loadCpu0 = process.cpuUsage()
    }
    if (at - lastLog >= 1000 && at > start) {
      const sent = state.reduce((n, s) => n + s.progress.sent, 0)
      const delivered = state.reduce((n, s) => n + s.progress.delivered, 0)
      log(`t=${((at - start) / 1000).toFixed(1)} s sent ${sent}/${total}, ${Math.round((delivered - lastDelivered) * 1000 / (at - lastLog))} deliveries/s${at >= windowStart ? ' (measuring)' : ' (warmup)'}`)
      lastLog = at
      lastDelivered = delivered
    }
    if (failed()) return finish({ error: 'a worker failed' })
    const next = windowInfo.t0 === null ? windowStart : windowEnd
    await sleep(Math.max(0, Math.min(next - clock(), 250)))
    at = clock()
  }
  if (finished) return
  windowInfo.t1 = serverTicks()
  windowInfo.wallS = (clock() - windowInfo.wallStart) / 1000
  if (loadCpu0) { const u = process.cpuUsage(loadCpu0); windowInfo.loadCpuS = r3((u.user + u.system) / 1e6) }
  finalMem = serverMem()

  // 3. The workers drain and report.
  await until(() => state.every((s) => s.done || s.error), (opt['drain-timeout'] + 10) * 1000)
  finish()
}

// ---------------------------------------------------------------------------
// Worker thread: hosts clients w, w + W, w + 2W, ...
async function worker () {
  const { opt, w } = workerData
  const N = opt.clients
  const W = opt.workers
  const post = (m, transfer) => parentPort.postMessage(m, transfer)
  const log = (text) => post({ type: 'log', text })
  let phase = 'connecting'
  let windowStart = Infinity
  let windowEnd = Infinity
  const total = Math.round(opt.rate * (opt.warmup + opt.duration))
  const mine = []
  for (let i = w; i < N; i += W) mine.push(i)
  // Deliveries of window edits to this worker's clients: at most sent x (receivers here).
  const lat = new Float64Array(Math.min(4_000_000, (Math.ceil(opt.rate * opt.duration) + 16) * mine.length))
  let latCount = 0
  const counters = {
    sentTotal: 0, sentWindow: 0, deliveredTotal: 0, deliveredWindow: 0, disconnects: 0, closes: 0,
    authFailures: 0, framesInWindow: 0, bytesInWindow: 0, latDropped: 0
  }

  const clients = mine.map((i) => {
    const doc = new Y.Doc()
    const text = doc.getText('text')
    const map = doc.getMap('lat')
    const socket = new HocuspocusProviderWebsocket({
      url: opt.url,
      WebSocketPolyfill: WebSocket,
      autoConnect: false,
      // Reconnect quickly if a socket drops (a drop is counted and fails the run).
      delay: 200,
      minDelay: 200,
      maxDelay: 2000
    })
    socket.on('message', (e) => {
      if (phase !== 'running') return
      const now = clock()
      if (now < windowStart || now >= windowEnd) return
      counters.framesInWindow++
      counters.bytesInWindow += e.data?.byteLength ?? e.data?.length ?? 0
    })
    const c = { i, doc, text, map, socket, provider: null, seq: 0, rng: prng(opt.seed * 1000003 + i), authenticated: false, scope: null }
    const providerOpts = {
      name: opt.doc,
      document: doc,
      websocketProvider: socket,
      token: opt.token,
      onAuthenticated: (e) => { c.authenticated = true; c.scope = e.scope },
      onAuthenticationFailed: (e) => { counters.authFailures++; log(`client ${i}: authentication failed: ${e.reason}`) },
      onClose: (e) => {
        counters.closes++
        if (phase === 'running' || phase === 'ready') {
          counters.disconnects++
          log(`client ${i}: socket closed during the run (${e.event?.code} ${e.event?.reason || ''})`)
        }
      }
    }
    if (opt.awareness === 'off') providerOpts.awareness = null
    c.provider = new HocuspocusProvider(providerOpts)
    c.provider.attach()
    // A delivery: one of another writer's keys of Y.Map "lat" changed; its value holds the send time.
    map.observe((ev) => {
      if (ev.transaction.local) return
      const at = clock()
      for (const key of ev.keysChanged) {
        const v = map.get(key)
        if (!v || v.id === i) continue
        counters.deliveredTotal++
        if (v.w) {
          counters.deliveredWindow++
          if (latCount < lat.length) lat[latCount++] = at - v.t
          else counters.latDropped++
        }
      }
    })
    return c
  })

  const report = (elu) => {
    const want = total * opt['edit-size']
    const texts = clients.map((c) => c.text.toString())
    post({
      type: 'done',
      lat: lat.slice(0, latCount),
      counters,
      text: texts[0] ?? '',
      sameText: texts.every((t) => t === texts[0]),
      allFull: texts.every((t) => t.length === want),
      unacked: clients.filter((c) => c.provider.unsyncedChanges > 0).length,
      authenticated: clients.filter((c) => c.authenticated).length,
      scopes: [...new Set(clients.map((c) => c.scope))],
      elu
    })
    for (const c of clients) {
      try { c.provider.destroy() } catch {}
      try { c.socket.destroy() } catch {}
      try { c.doc.destroy() } catch {}
    }
    setTimeout(() => process.exit(0), 500).unref()
  }

  let startMsg = null
  let aborted = false
  parentPort.on('message', (m) => {
    if (m.type === 'start') startMsg = m
    if (m.type === 'abort') aborted = true
  })

  // 1. Connect and sync.
  for (const c of clients) c.socket.connect()
  const connectDeadline = Date.now() + opt['connect-timeout'] * 1000
  const synced = () => clients.filter((c) => c.authenticated && c.provider.isSynced).length
  while (Date.now() < connectDeadline && !aborted && synced() < clients.length && counters.authFailures === 0) await sleep(20)
  post({ type: 'ready', synced: synced() })
  if (synced() < clients.length) {
    while (!aborted) await sleep(20)
    return report(null)
  }
  phase = 'ready'
  const startWait = Date.now() + 60_000
  while (!startMsg && !aborted && Date.now() < startWait) await sleep(5)
  if (!startMsg) return report(null)

  // 2. Edit k is due at start + k / rate, made by client k mod N; this worker makes its clients' edits.
  const start = startMsg.start
  windowStart = start + opt.warmup * 1000
  windowEnd = windowStart + opt.duration * 1000
  const firstWindowK = Math.round(opt.rate * opt.warmup)
  const byIndex = new Map(clients.map((c) => [c.i, c]))
  const myKs = []
  for (let k = 0; k < total; k++) if (byIndex.has(k % N)) myKs.push(k)
  const due = (k) => start + (k * 1000) / opt.rate
  phase = 'running'
  let elu0 = null
  let j = 0
  let lastProgress = 0
  await new Promise((resolve) => {
    const step = () => {
      if (aborted) return resolve()
      const now = clock()
      if (!elu0 && now >= windowStart) elu0 = performance.eventLoopUtilization()
      while (j < myKs.length && due(myKs[j]) <= now) {
        const k = myKs[j++]
        edit(byIndex.get(k % N), k >= firstWindowK)
      }
      if (now - lastProgress >= 500) {
        lastProgress = now
        post({ type: 'progress', sent: counters.sentTotal, delivered: counters.deliveredTotal })
      }
      if (j >= myKs.length && now >= windowEnd) return resolve()
      const next = j < myKs.length ? due(myKs[j]) : windowEnd
      setTimeout(step, Math.max(0, Math.min(next - clock(), 100)))
    }
    setTimeout(step, Math.max(0, start - clock()))
  })
  const eluWindow = elu0 ? performance.eventLoopUtilization(elu0) : null

  // 3. Drain: every client holds every edit and has nothing unacknowledged.
  phase = 'draining'
  const want = total * opt['edit-size']
  const drainDeadline = Date.now() + opt['drain-timeout'] * 1000
  while (Date.now() < drainDeadline && !aborted) {
    if (clients.every((c) => c.text.length === want && c.provider.unsyncedChanges === 0)) break
    await sleep(50)
  }
  phase = 'closing'
  report(eluWindow?.utilization ?? null)

  function edit (c, inWindow) {
    const t = clock()
    const pos = Math.floor(c.rng() * (c.text.length + 1))
    let s = ''
    for (let n = 0; n < opt['edit-size']; n++) s += ALPHABET[Math.floor(c.rng() * ALPHABET.length)]
    c.seq++
    c.doc.transact(() => {
      c.text.insert(pos, s)
      c.map.set(`${c.i}:${c.seq % LAT_KEYS}`, { t, id: c.i, seq: c.seq, w: inWindow ? 1 : 0 })
    })
    counters.sentTotal++
    if (inWindow) counters.sentWindow++
  }
}

// Deterministic PRNG (mulberry32) for insert positions and characters.
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
