// Test harness for the Weft black-box tests: starts/stops the server under test
// (the Weft binary by default, or the reference Node server with
// WEFT_TEST_TARGET=reference), makes real y-websocket clients and raw `ws`
// sockets, and provides wait-for-condition helpers.

import { after } from 'node:test'
import { spawn, execFileSync } from 'node:child_process'
import { createServer } from 'node:net'
import { mkdtempSync, rmSync, existsSync, openSync, closeSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import http from 'node:http'

import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import * as syncProtocol from 'y-protocols/sync'
import * as awarenessProtocol from 'y-protocols/awareness'

export { Y, WebsocketProvider, WebSocket, encoding, decoding, syncProtocol, awarenessProtocol }

// Every provider registers a process 'exit' listener.
process.setMaxListeners(0)

const HERE = dirname(fileURLToPath(import.meta.url))

export const TARGET = (process.env.WEFT_TEST_TARGET || 'weft').toLowerCase()
export const IS_REFERENCE = TARGET === 'reference'
if (!['weft', 'reference'].includes(TARGET)) {
  throw new Error(`WEFT_TEST_TARGET must be "weft" or "reference", got ${JSON.stringify(TARGET)}`)
}
export const WEFT_BIN = resolve(HERE, '..', process.env.WEFT_BIN || '../../target/debug/weft')
// shared/ sits beside the repository checkout (…/main and …/shared).
const REF_SCRIPT = process.env.WEFT_REFERENCE_SCRIPT || resolve(HERE, '../../../../shared/bench/reference-server.sh')
const REF_DIR = process.env.REF_DIR || '/tmp/weft-reference-server'
const REF_SERVER_JS = join(REF_DIR, 'node_modules/@y/websocket-server/src/server.js')
const KEEP = process.env.WEFT_TEST_KEEP === '1'

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------------------
// Waiting

/**
 * Poll `cond` until it returns a truthy value (which is returned) or the timeout passes.
 * `what` is a string or a function returning a string, used in the timeout error.
 */
export async function waitFor (cond, { timeout = 10000, interval = 10, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout
  let lastErr
  for (;;) {
    try {
      const v = await cond()
      if (v) return v
    } catch (e) { lastErr = e }
    if (Date.now() > deadline) {
      const desc = typeof what === 'function' ? what() : what
      throw new Error(`timed out after ${timeout} ms waiting for ${desc}${lastErr ? ` (last error: ${lastErr.message})` : ''}`)
    }
    await sleep(interval)
  }
}

/** Race a promise against a timeout. */
export function withTimeout (promise, ms, what = 'operation') {
  let timer
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms) })
  ])
}

export const randomRoom = (prefix = 'room') => `${prefix}-${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`

// ---------------------------------------------------------------------------
// Ports, processes

export function freePort () {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

/** Plain HTTP GET; resolves { status, body } or rejects on connection error. */
export function httpGet (url, timeout = 2000) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c) => { body += c })
      res.on('end', () => resolve({ status: res.statusCode, body }))
    })
    req.on('timeout', () => req.destroy(new Error('http timeout')))
    req.on('error', reject)
  })
}

const liveChildren = new Set()
process.on('exit', () => {
  for (const c of liveChildren) { try { c.kill('SIGKILL') } catch {} }
})
// Safety net: a leaked handle (a provider or Awareness not destroyed) must not hang the run.
after(() => {
  setTimeout(() => {
    process.stderr.write('harness: the test file did not exit 10 s after its last test (leaked handles); exiting\n')
    process.exit()
  }, 10000).unref()
})

let weftHelp = null
/** Text of `$WEFT_BIN serve --help` (empty for the reference target). */
export function serverHelp () {
  if (IS_REFERENCE) return ''
  if (weftHelp === null) {
    try {
      weftHelp = execFileSync(WEFT_BIN, ['serve', '--help'], { encoding: 'utf8', timeout: 10000, stdio: ['ignore', 'pipe', 'pipe'] })
    } catch (e) {
      weftHelp = (e.stdout || '') + (e.stderr || '')
    }
  }
  return weftHelp
}

/** Whether the server under test accepts a `serve` flag (e.g. '--max-message-size'). */
export function supportsFlag (flag) {
  if (IS_REFERENCE) return false
  return new RegExp(`(^|\\s)${flag.replace(/[-]/g, '\\-')}(\\s|=|,|$)`, 'm').test(serverHelp())
}

function ensureReferenceInstalled () {
  if (existsSync(REF_SERVER_JS)) return
  // reference-server.sh installs itself on first start; start and stop it once on a free port.
  const port = 40000 + Math.floor(Math.random() * 20000)
  try {
    execFileSync('sh', [REF_SCRIPT, 'start', String(port)], { stdio: 'ignore', timeout: 300000 })
  } finally {
    try { execFileSync('sh', [REF_SCRIPT, 'stop', String(port)], { stdio: 'ignore', timeout: 30000 }) } catch {}
  }
  if (!existsSync(REF_SERVER_JS)) throw new Error(`reference server not installed at ${REF_SERVER_JS}`)
}

/**
 * A server under test. `start()` spawns it (on a fresh free port unless `port` is given)
 * and waits until it answers HTTP. The data dir persists across restarts of the same
 * instance. Always call `cleanup()` (kills the process, removes the data dir).
 */
export class TestServer {
  constructor ({ args = {}, dataDir = null } = {}) {
    this.args = args // { maxMessageSize, sessionQueue, extra: ['--flag', 'value', ...] }
    this.dataDir = dataDir || mkdtempSync(join(tmpdir(), 'weft-js-'))
    this.ownsDataDir = !dataDir
    this.proc = null
    this.port = null
    this.starts = 0
    this.exitInfo = null
  }

  /** URL to hand to WebsocketProvider as serverUrl (the room name is appended). */
  get serverUrl () { return IS_REFERENCE ? `ws://127.0.0.1:${this.port}` : `ws://127.0.0.1:${this.port}/ws` }
  /** URL of the WebSocket endpoint for a document (raw sockets); `rawName` is used verbatim. */
  wsUrl (rawName) { return `${this.serverUrl}/${rawName}` }
  get httpBase () { return `http://127.0.0.1:${this.port}` }
  get pid () { return this.proc ? this.proc.pid : null }
  get logFile () { return join(this.dataDir, `server-${this.starts}.log`) }

  /** The last `n` characters of the current log. */
  log (n = 4000) {
    try { const s = readFileSync(this.logFile, 'utf8'); return s.slice(-n) } catch { return '' }
  }

  async start ({ port = null, timeout = 20000 } = {}) {
    if (this.proc) throw new Error('server already running')
    this.port = port || await freePort()
    this.starts++
    this.exitInfo = null
    const fd = openSync(this.logFile, 'a')
    let cmd, argv, env
    if (IS_REFERENCE) {
      ensureReferenceInstalled()
      cmd = process.execPath
      argv = [REF_SERVER_JS]
      env = { ...process.env, HOST: '127.0.0.1', PORT: String(this.port), YPERSISTENCE: join(this.dataDir, 'leveldb') }
    } else {
      if (!existsSync(WEFT_BIN)) throw new Error(`Weft binary not found at ${WEFT_BIN} (build it with \`cargo build -p weft-server\`, set WEFT_BIN, or use WEFT_TEST_TARGET=reference)`)
      cmd = WEFT_BIN
      argv = ['serve', '--listen', `127.0.0.1:${this.port}`, '--data-dir', this.dataDir]
      if (this.args.maxMessageSize != null) argv.push('--max-message-size', String(this.args.maxMessageSize))
      if (this.args.sessionQueue != null) argv.push('--session-queue', String(this.args.sessionQueue))
      if (this.args.extra) argv.push(...this.args.extra.map(String))
      // Keep the run hermetic: the server reads WEFT_* variables as flag defaults.
      env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WEFT_') && k !== 'DATABASE_URL'))
    }
    const proc = spawn(cmd, argv, { env, stdio: ['ignore', fd, fd] })
    closeSync(fd)
    this.proc = proc
    liveChildren.add(proc)
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        liveChildren.delete(proc)
        this.exitInfo = { code, signal }
        resolve({ code, signal })
      })
    })
    const healthPath = IS_REFERENCE ? '/' : '/healthz'
    try {
      await waitFor(async () => {
        if (this.exitInfo) throw new Error(`server exited early: ${JSON.stringify(this.exitInfo)}`)
        const r = await httpGet(this.httpBase + healthPath, 1000)
        return r.status === 200
      }, { timeout, interval: 50, what: `server on port ${this.port} to answer ${healthPath} with 200` })
    } catch (e) {
      const log = this.log()
      await this.kill()
      throw new Error(`${e.message}\n--- server log ---\n${log}`)
    }
    return this
  }

  /** Send `signal` and wait for the exit; returns { code, signal, ms }. Throws if not exited within `timeout`. */
  async stop (signal = 'SIGTERM', timeout = 10000) {
    if (!this.proc) return this.exitInfo
    const proc = this.proc
    const t0 = Date.now()
    proc.kill(signal)
    const info = await withTimeout(this.exited, timeout, `server (pid ${proc.pid}) to exit after ${signal}`)
      .catch(async (e) => { await this.kill(); throw e })
    this.proc = null
    return { ...info, ms: Date.now() - t0 }
  }

  /** SIGKILL and wait for the exit. */
  async kill () {
    if (!this.proc) return this.exitInfo
    const proc = this.proc
    try { proc.kill('SIGKILL') } catch {}
    const info = await withTimeout(this.exited, 10000, 'server to die after SIGKILL').catch(() => null)
    this.proc = null
    return info
  }

  async cleanup () {
    await this.kill()
    if (this.ownsDataDir && !KEEP) {
      try { rmSync(this.dataDir, { recursive: true, force: true }) } catch {}
    }
  }
}

/** Start a server and register its cleanup on the test context `t` (or a node:test `after`). */
export async function startServer (t, opts = {}) {
  const s = new TestServer(opts)
  t.after(() => s.cleanup())
  await s.start()
  return s
}

// ---------------------------------------------------------------------------
// y-websocket clients

/**
 * A real y-websocket client. Registers teardown on `t`. Returns { doc, provider, awareness }.
 * opts: connect (default true), doc (existing Y.Doc)
 */
export function makeClient (t, server, room, { connect = true, doc = new Y.Doc(), serverUrl = server.serverUrl } = {}) {
  const provider = new WebsocketProvider(serverUrl, room, doc, {
    WebSocketPolyfill: WebSocket,
    disableBc: true,
    connect,
    maxBackoffTime: 500
  })
  const closeEvents = []
  provider.on('connection-close', (ev) => { if (ev) closeEvents.push({ code: ev.code, reason: ev.reason }) })
  provider.on('connection-error', () => {})
  const client = { doc, provider, awareness: provider.awareness, closeEvents, room }
  t.after(() => destroyClient(client))
  return client
}

export function destroyClient (c) {
  try { c.provider.destroy() } catch {}
  try { c.doc.destroy() } catch {}
}

/** Stop a provider without reconnecting and without saying goodbye (abrupt TCP close). */
export function killClientSocket (c) {
  c.provider.shouldConnect = false
  const ws = c.provider.ws
  if (ws) {
    if (ws._socket) ws._socket.destroy()
    else ws.terminate()
  }
}

export function waitSynced (c, timeout = 15000) {
  return waitFor(() => c.provider.synced, { timeout, what: () => `provider for ${c.room} to sync (wsconnected=${c.provider.wsconnected}, closes=${JSON.stringify(c.closeEvents)})` })
}

// ---------------------------------------------------------------------------
// Raw sockets and protocol messages

export const MSG_SYNC = 0
export const MSG_AWARENESS = 1
export const MSG_QUERY_AWARENESS = 3

export function syncStep1Message (doc = new Y.Doc()) {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, MSG_SYNC)
  syncProtocol.writeSyncStep1(e, doc)
  return encoding.toUint8Array(e)
}

export function updateMessage (update) {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, MSG_SYNC)
  syncProtocol.writeUpdate(e, update)
  return encoding.toUint8Array(e)
}

export function awarenessMessage (awarenessUpdate) {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, MSG_AWARENESS)
  encoding.writeVarUint8Array(e, awarenessUpdate)
  return encoding.toUint8Array(e)
}

/** An awareness update for one client, with `stateJson` written verbatim (may be invalid JSON). */
export function rawAwarenessUpdate (clientID, clock, stateJson) {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, 1)
  encoding.writeVarUint(e, clientID)
  encoding.writeVarUint(e, clock)
  encoding.writeVarString(e, stateJson)
  return encoding.toUint8Array(e)
}

export function queryAwarenessMessage () {
  return Uint8Array.of(MSG_QUERY_AWARENESS)
}

/** Decode an awareness message payload into [{ clientID, clock, state }]. */
export function decodeAwarenessUpdate (update) {
  const d = decoding.createDecoder(update)
  const n = decoding.readVarUint(d)
  const out = []
  for (let i = 0; i < n; i++) {
    const clientID = decoding.readVarUint(d)
    const clock = decoding.readVarUint(d)
    const state = JSON.parse(decoding.readVarString(d))
    out.push({ clientID, clock, state })
  }
  return out
}

/**
 * A raw `ws` client. Collects binary messages; `closed` resolves { code, reason } on close,
 * `opened` resolves on open and rejects on an HTTP refusal ({ statusCode }) or error.
 */
export function rawSocket (t, url, { maxPayload = 256 * 1024 * 1024 } = {}) {
  const ws = new WebSocket(url, { maxPayload })
  ws.binaryType = 'nodebuffer'
  const r = { ws, messages: [], closeInfo: null, error: null, httpStatus: null }
  r.opened = new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('unexpected-response', (_req, res) => {
      r.httpStatus = res.statusCode
      res.resume()
      const err = new Error(`unexpected HTTP response ${res.statusCode}`)
      err.statusCode = res.statusCode
      reject(err)
      ws.terminate()
    })
    ws.once('error', (e) => { r.error = e; reject(e) })
  })
  r.opened.catch(() => {})
  r.closed = new Promise((resolve) => {
    ws.on('close', (code, reason) => {
      r.closeInfo = { code, reason: reason.toString() }
      resolve(r.closeInfo)
    })
  })
  ws.on('error', (e) => { r.error = e })
  ws.on('message', (data, isBinary) => { r.messages.push({ data: new Uint8Array(data), isBinary }) })
  r.send = (bytes) => new Promise((resolve, reject) => ws.send(bytes, { binary: true }, (err) => err ? reject(err) : resolve()))
  if (t) t.after(() => { try { ws.terminate() } catch {} })
  return r
}

/** Wait for a raw socket's close; returns { code, reason }. */
export function waitClosed (r, timeout = 10000, what = 'socket close') {
  return withTimeout(r.closed, timeout, what)
}

/** Sync-protocol messages seen on a raw socket, decoded as { type, sub?, payload }. */
export function decodeMessage (bytes) {
  const d = decoding.createDecoder(bytes)
  const type = decoding.readVarUint(d)
  if (type === MSG_SYNC) {
    const sub = decoding.readVarUint(d)
    return { type, sub, payload: decoding.readVarUint8Array(d) }
  }
  if (type === MSG_AWARENESS) return { type, payload: decoding.readVarUint8Array(d) }
  return { type }
}

/** Deterministic PRNG (mulberry32) for reproducible "random" data. */
export function prng (seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function randomText (len, seed = 1) {
  const rnd = prng(seed)
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \n'
  let s = ''
  const parts = []
  for (let i = 0; i < len; i++) {
    s += alphabet[Math.floor(rnd() * alphabet.length)]
    if (s.length >= 4096) { parts.push(s); s = '' }
  }
  parts.push(s)
  return parts.join('')
}

/** JSON with object keys sorted (Y.Map.toJSON() key order depends on insertion history). */
export function canonical (v) {
  return JSON.stringify(v, (_k, x) => (x && typeof x === 'object' && !Array.isArray(x))
    ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]]))
    : x)
}
