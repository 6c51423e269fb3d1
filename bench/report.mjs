// Turns the JSON summaries bench/run.sh collected into the results table (Markdown + JSON).
//   node bench/report.mjs RAW_DIR OUT_PREFIX     writes OUT_PREFIX.md and OUT_PREFIX.json, prints the .md
// RAW_DIR holds NAME.SERVER.json (the last stdout line of a harness tool) and, for the cold
// measurement, cold.SERVER.restart.json. Run metadata comes from BENCH_* variables (see run.sh).
import { readFileSync, writeFileSync, readdirSync, existsSync } from 'node:fs'
import { join } from 'node:path'

const [rawDir, outPrefix] = process.argv.slice(2)
if (!rawDir || !outPrefix) {
  console.error('usage: node bench/report.mjs RAW_DIR OUT_PREFIX')
  process.exit(2)
}
const env = process.env
const servers = (env.BENCH_SERVERS || 'weft weft-pg ref').split(/\s+/).filter(Boolean)
// `relay` (a bare WebSocket relay, fanout only) gets a ratio column but is judged by no target.
const weftServers = servers.filter((s) => s !== 'ref' && s !== 'relay')
const ratioServers = servers.filter((s) => s !== 'ref')
const REF = 'ref'

const results = {}
for (const f of readdirSync(rawDir)) {
  const m = f.match(/^(.+)\.([a-z-]+)\.json$/)
  if (!m || f.endsWith('.restart.json')) continue
  const [, name, server] = m
  try {
    ;(results[name] ||= {})[server] = JSON.parse(readFileSync(join(rawDir, f), 'utf8'))
  } catch (e) {
    ;(results[name] ||= {})[server] = { ok: false, error: `unreadable summary: ${e.message}`, failures: [] }
  }
  const restart = join(rawDir, `${name}.${server}.restart.json`)
  if (existsSync(restart)) results[name][server].restart = JSON.parse(readFileSync(restart, 'utf8'))
}

const get = (o, path) => path.split('.').reduce((x, k) => (x == null ? undefined : x[k]), o)
const num = (x) => (typeof x === 'number' && Number.isFinite(x) ? x : null)
const mib = (kib) => (num(kib) === null ? null : kib / 1024)
const status = (j) => (!j ? null : j.ok ? 'PASS' : `FAIL: ${j.error || (j.failures || []).slice(0, 2).join('; ') || 'see raw output'}`)

// Row: [label, value(summary), digits]. A numeric row gets a Weft/reference ratio.
const fanoutRows = [
  ['result', status],
  ['server CPU s, measured window', (j) => num(get(j, 'server.window.cpuSeconds')), 2],
  ['server CPU s, whole run (connect..drain)', (j) => num(get(j, 'server.run.cpuSeconds')), 2],
  ['latency p50 ms', (j) => num(get(j, 'latencyMs.p50')), 2],
  ['latency p99 ms', (j) => num(get(j, 'latencyMs.p99')), 1],
  ['latency max ms', (j) => num(get(j, 'latencyMs.max')), 0],
  ['worst second p99 ms', (j) => {
    const t = get(j, 'latencyTimeline')
    return Array.isArray(t) && t.length ? Math.max(...t.map((x) => x.p99 ?? 0)) : null
  }, 1],
  ['sent edits/s (all documents)', (j) => num(get(j, 'sentPerSec')), 0],
  ['delivered updates/s', (j) => num(get(j, 'deliveredPerSec')), 0],
  ['delivery ratio', (j) => num(get(j, 'deliveryRatio')), 3],
  ['connect+sync all clients ms', (j) => num(get(j, 'connectSyncAllMs')), 0],
  ['server peak RSS MiB', (j) => mib(get(j, 'server.peakRssKiB')), 1],
  ['harness busy % per worker', (j) => num(get(j, 'harness.busyPercentPerWorker')), 0, false]
]
const MEASUREMENTS = {
  fanout: {
    title: 'fanout, defaults: 1 doc x 50 clients (all write), 200 edits/s, 20 s with 3 s warmup',
    rows: fanoutRows
  },
  'fanout-docs': {
    title: 'fanout --docs 100 --clients 10 --workers 2 (200 edits/s per document)',
    rows: fanoutRows
  },
  'fanout-docs-r20': {
    title: 'fanout --docs 100 --clients 10 --rate 20 --workers 2 (20 edits/s per document, 2,000 in all)',
    rows: fanoutRows
  },
  'per-doc': {
    title: 'weft-loadgen fanout --docs 100 --clients 10 --rate 20: the fanout-docs-r20 load from Rust yrs clients (not saturated), latency kept per document',
    rows: [
      ['result', status],
      ['server CPU s, measured window', (j) => num(get(j, 'serverCpuSeconds')), 2],
      ['latency p50 ms (all documents)', (j) => num(get(j, 'latencyMs.p50')), 1],
      ['latency p99 ms (all documents)', (j) => num(get(j, 'latencyMs.p99')), 1],
      ['per-document p99 ms, median document', (j) => num(get(j, 'perDocP99Ms.median')), 1],
      ['per-document p99 ms, worst document', (j) => num(get(j, 'perDocP99Ms.worst')), 1],
      ['per-document p99 ms, best document', (j) => num(get(j, 'perDocP99Ms.best')), 1],
      ['delivery ratio', (j) => num(get(j, 'deliveryRatio')), 3]
    ]
  },
  observers: {
    title: 'fanout --docs 1 --clients 1001 --writers 1 --rate 10 --no-awareness --workers 2: one writer, 1,000 observers',
    rows: fanoutRows
  },
  trace: {
    title: 'trace --trace traces/rustcode.json.gz --fresh-clients 3 (5 readers; reference in memory)',
    rows: [
      ['result', status],
      ['server CPU s during replay', (j) => num(get(j, 'server.replay.cpuSeconds')), 2],
      ['server CPU s, whole run', (j) => num(get(j, 'server.cpuSeconds')), 2],
      ['all readers = endContent ms', (j) => num(get(j, 'readersMatchMs')), 0],
      ['fresh client full doc ms, p50 of 3', (j) => num(get(j, 'freshFullDocMs.p50')), 1],
      ['fresh client full doc ms, first', (j) => num(get(j, 'fresh.0.fullDocMs')), 1],
      ['doc size KiB (writer encodeStateAsUpdate)', (j) => (num(get(j, 'docUpdateBytes')) ?? NaN) / 1024, 0],
      ['server peak RSS MiB', (j) => mib(get(j, 'server.peakRssKiB')), 1],
      ['harness busy %', (j) => num(get(j, 'harness.busyPercent')), 0, false]
    ]
  },
  cold: {
    title: 'trace rustcode --cold: clients closed, server restarted, then one fresh client (reference with LevelDB persistence)',
    rows: [
      ['result', status],
      ['cold client full doc ms', (j) => num(get(j, 'cold.fullDocMs')), 1],
      ['cold client synced ms', (j) => num(get(j, 'cold.syncedMs')), 1],
      ['full doc in sync step 2', (j) => (get(j, 'cold.matchedAtSync') == null ? null : String(get(j, 'cold.matchedAtSync')))],
      ['warm fresh client full doc ms (before restart)', (j) => num(get(j, 'fresh.0.fullDocMs')), 1],
      ['server restart ms (stop with flush + start)', (j) => num(get(j, 'restart.restartMs')), 0]
    ]
  },
  conns: {
    title: 'conns --conns 10000 --docs 1000 (idle connections, concurrency 50)',
    rows: [
      ['result', status],
      ['connections still open after hold', (j) => (get(j, 'stillOpenAfterHold') == null ? null : `${get(j, 'stillOpenAfterHold')}/${get(j, 'config.conns')}`)],
      ['RSS per idle connection KiB', (j) => num(get(j, 'server.rssPerConnKiB')), 2],
      ['RSS per small document KiB (with its first conn)', (j) => num(get(j, 'server.rssPerDocKiB')), 2],
      ['RSS per connection all-in KiB', (j) => num(get(j, 'server.rssPerConnAllInKiB')), 2],
      ['connect+sync all ms', (j) => num(get(j, 'total.syncAllMs')), 0],
      ['per-connection sync p99 ms (phase 2)', (j) => num(get(j, 'phase2Conns.perConnSyncMs.p99')), 1],
      ['probe latency p99 ms', (j) => num(get(j, 'probe.latencyMs.p99')), 1],
      ['server CPU s, connect phase', (j) => num(get(j, 'server.connectPhase.cpuSeconds')), 2],
      ['server CPU %, idle hold', (j) => num(get(j, 'server.hold.avgCpuPercent')), 1],
      ['server peak RSS MiB', (j) => mib(get(j, 'server.peakRssKiB')), 1]
    ]
  },
  'join-storm-fill': {
    title: 'join storm, fill: one writer types 1,000 edits of --edit-size characters into one document (fanout --clients 2 --writers 1)',
    rows: [
      ['result', status],
      ['document text length (chars)', (j) => num(get(j, 'docs.0.textLength')), 0]
    ]
  },
  'join-storm': {
    title: 'join storm: weft-loadgen join-storm --clients 200 on the filled document (200 raw protocol clients connect and send sync step 1 at once; 2 of them apply their sync step 2 with yrs)',
    rows: [
      ['result', status],
      ['all clients synced ms', (j) => num(get(j, 'allSyncedMs')), 0],
      ['synced clients', (j) => (get(j, 'synced') == null ? null : `${get(j, 'synced')}/${get(j, 'clients')}`)],
      ['per-client sync p50 ms', (j) => num(get(j, 'perClientSyncMs.p50')), 0],
      ['per-client sync p99 ms', (j) => num(get(j, 'perClientSyncMs.p99')), 0],
      ['connected p50 ms', (j) => num(get(j, 'connectedMs.p50')), 0],
      ['sync step 2 MB', (j) => (num(get(j, 'step2Bytes')) ?? NaN) / 1e6, 2],
      ['server CPU s, joins', (j) => num(get(j, 'serverCpuSeconds')), 2]
    ]
  },
  'join-storm-harness': {
    title: 'join storm with stock providers: conns --docs 1 --conns 200 --concurrency 200 on the same document (harness-bound: one Node thread decodes 200 copies)',
    rows: [
      ['result', status],
      ['all clients synced ms (first + 199 at once)', (j) => num(get(j, 'total.syncAllMs')), 0],
      ['synced clients', (j) => (get(j, 'phase1Docs.synced') == null ? null : `${(get(j, 'phase1Docs.synced') || 0) + (get(j, 'phase2Conns.synced') || 0)}/${get(j, 'config.conns')}`)],
      ['per-client sync p50 ms (199 joiners)', (j) => num(get(j, 'phase2Conns.perConnSyncMs.p50')), 0],
      ['per-client sync p99 ms (199 joiners)', (j) => num(get(j, 'phase2Conns.perConnSyncMs.p99')), 0],
      ['server CPU s, joins', (j) => num(get(j, 'server.connectPhase.cpuSeconds')), 2],
      ['server peak RSS MiB', (j) => mib(get(j, 'server.peakRssKiB')), 1]
    ]
  }
}

const fmt = (v, digits = 2) => {
  if (v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v))) return '-'
  if (typeof v !== 'number') return String(v).replace(/\|/g, '\\|').slice(0, 160)
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}
const ratio = (a, b) => (num(a) !== null && num(b) !== null && b !== 0 ? a / b : null)

const lines = []
const out = (s = '') => lines.push(s)
out(`# Weft benchmark run ${env.BENCH_DATE || ''}`)
out()
out(`- commit: \`${env.BENCH_COMMIT || '?'}\`${env.BENCH_DIRTY && env.BENCH_DIRTY !== '0' ? ` plus ${env.BENCH_DIRTY} uncommitted tracked file(s) in the work tree (the build included them)` : ''}`)
out(`- machine: ${env.BENCH_MACHINE || '?'}; node ${env.BENCH_NODE || '?'}`)
out(`- servers: ${servers.join(', ')}; ${env.BENCH_PG_NOTE || ''}`)
if (env.BENCH_QUICK === '1') out('- **--quick run: shortened measurements, a smoke test of the paths, not comparable figures**')
out('- harness and servers share the machine; single figures move by about ±30 % between runs: compare the ratios')
out()

const figures = {}
for (const [name, def] of Object.entries(MEASUREMENTS)) {
  const byServer = results[name]
  if (!byServer) continue
  const cols = servers.filter((s) => byServer[s] || s === REF)
  const ratioCols = ratioServers.filter((s) => byServer[s])
  out(`## ${name}`)
  out()
  out(def.title)
  out()
  out(`| | ${cols.join(' | ')} | ${ratioCols.map((s) => `${s} / ref`).join(' | ')} |`)
  out(`| --- | ${cols.map(() => '---:').join(' | ')} | ${ratioCols.map(() => '---:').join(' | ')} |`)
  figures[name] = {}
  for (const [label, fn, digits, withRatio = true] of def.rows) {
    const vals = Object.fromEntries(cols.map((s) => [s, byServer[s] ? fn(byServer[s]) : null]))
    figures[name][label] = vals
    const rs = ratioCols.map((s) => (withRatio && typeof vals[s] === 'number' ? fmt(ratio(vals[s], vals[REF]), 2) : ''))
    out(`| ${label} | ${cols.map((s) => fmt(vals[s], digits)).join(' | ')} | ${rs.join(' | ')} |`)
  }
  out()
}

// Targets, judged for each Weft variant against the reference (and the relay) in the same run.
const fig = (name, label, server) => figures[name]?.[label]?.[server] ?? null
const targets = []
const judge = (target, measure) => {
  for (const s of weftServers) {
    if (!Object.values(figures).some((f) => Object.values(f).some((v) => v[s] !== undefined && v[s] !== null))) continue
    const r = measure(s)
    if (r) targets.push({ target, server: s, ...r })
  }
}
const cmpRatio = (name, label, limit, s) => {
  const w = fig(name, label, s); const r = fig(name, label, REF)
  const q = ratio(w, r)
  if (q === null) return { measured: `${fmt(w)} vs ${fmt(r)}`, holds: 'n/a' }
  return { measured: `${fmt(w)} vs ${fmt(r)} = ${fmt(q, 3)}x`, holds: q <= limit ? 'yes' : `NO (${fmt(q / limit, 2)}x the limit)` }
}
const okOf = (name, s) => results[name]?.[s]?.ok
// Issue 13 (transport): CPU against the reference and against the bare relay (the floor),
// p99 against the reference, memory per idle connection, connect rate.
const RELAY = 'relay'
const vsRelay = (name, label, limit, s) => {
  const w = fig(name, label, s); const r = fig(name, label, RELAY)
  const q = ratio(w, r)
  if (q === null) return { measured: `${fmt(w)} vs relay ${fmt(r)}`, holds: 'n/a (no relay in this run)' }
  return { measured: `${fmt(w)} vs relay ${fmt(r)} = ${fmt(q, 3)}x`, holds: q <= limit ? 'yes' : `NO (${fmt(q / limit, 2)}x the limit)` }
}
for (const [name, what] of [['fanout', 'fanout defaults'], ['fanout-docs', 'fanout --docs 100 --clients 10'], ['fanout-docs-r20', 'fanout --docs 100 --clients 10 --rate 20']]) {
  judge(`${what}: server CPU <= 0.75x reference`, (s) => results[name] && cmpRatio(name, 'server CPU s, measured window', 0.75, s))
  judge(`${what}: server CPU <= 1.3x the bare relay`, (s) => results[name] && vsRelay(name, 'server CPU s, measured window', 1.3, s))
  judge(`${what}: p99 no worse than reference`, (s) => results[name] && cmpRatio(name, 'latency p99 ms', 1, s))
}
judge('fanout --docs 100 --clients 10 --rate 20 (Rust clients): no document starves: worst per-document p99 no worse than reference', (s) => results['per-doc'] && cmpRatio('per-doc', 'per-document p99 ms, worst document', 1, s))
judge('trace rustcode: cold load after restart <= 1/5 of reference (persistence)', (s) => results.cold && cmpRatio('cold', 'cold client full doc ms', 0.2, s))
judge('conns 10000/1000: Weft holds them all', (s) => results.conns && ({
  measured: `${fig('conns', 'connections still open after hold', s) ?? '-'} open, ${okOf('conns', s) ? 'PASS' : 'FAIL'}`,
  holds: okOf('conns', s) ? 'yes' : 'NO'
}))
judge('conns: RSS per idle connection <= 4 KiB', (s) => results.conns && (() => {
  const v = fig('conns', 'RSS per idle connection KiB', s)
  return { measured: `${fmt(v)} KiB (ref ${fmt(fig('conns', 'RSS per idle connection KiB', REF))})`, holds: v === null ? 'n/a' : v <= 4 ? 'yes' : `NO (${fmt(v / 4, 2)}x)` }
})())
judge('conns: connect rate at least the reference\'s (time to connect and sync all, lower is faster)', (s) => results.conns && cmpRatio('conns', 'connect+sync all ms', 1, s))
judge('join storm: 200 clients on one 5 MB document all synced within 3 s', (s) => results['join-storm'] && (() => {
  const v = fig('join-storm', 'all clients synced ms', s)
  const len = fig('join-storm-fill', 'document text length (chars)', s)
  const all = okOf('join-storm', s)
  return {
    measured: `${fmt(v, 0)} ms on ${fmt((len ?? NaN) / 1e6, 2)} M chars, ${fig('join-storm', 'synced clients', s) ?? '-'} synced, server CPU ${fmt(fig('join-storm', 'server CPU s, joins', s))} s (ref ${fmt(fig('join-storm', 'all clients synced ms', REF), 0)} ms, CPU ${fmt(fig('join-storm', 'server CPU s, joins', REF))} s); stock providers (harness-bound): ${fmt(fig('join-storm-harness', 'all clients synced ms (first + 199 at once)', s), 0)} ms vs ref ${fmt(fig('join-storm-harness', 'all clients synced ms (first + 199 at once)', REF), 0)} ms`,
    holds: v === null || !all ? 'NO (run failed)' : v <= 3000 ? 'yes' : `NO (${fmt(v / 3000, 2)}x)`
  }
})())
judge('1 writer -> 1,000 observers: p99 < 30 ms', (s) => results.observers && (() => {
  const v = fig('observers', 'latency p99 ms', s)
  return { measured: `${fmt(v, 1)} ms (ref ${fmt(fig('observers', 'latency p99 ms', REF), 1)} ms)${okOf('observers', s) ? '' : ', run FAILED'}`, holds: v === null ? 'n/a' : v < 30 && okOf('observers', s) ? 'yes' : `NO${v >= 30 ? ` (${fmt(v / 30, 2)}x)` : ''}` }
})())

out('## Targets (issue 13; the join storm, cold load and per-document ones from issue 9)')
out()
out('| target | server | measured (Weft vs reference) | holds? |')
out('| --- | --- | --- | --- |')
for (const t of targets) out(`| ${t.target} | ${t.server} | ${t.measured} | ${t.holds} |`)
out()

const md = lines.join('\n') + '\n'
writeFileSync(`${outPrefix}.md`, md)
const meta = {
  date: env.BENCH_DATE, commit: env.BENCH_COMMIT, uncommittedFiles: Number(env.BENCH_DIRTY || 0), quick: env.BENCH_QUICK === '1',
  machine: env.BENCH_MACHINE, node: env.BENCH_NODE, postgres: env.BENCH_PG_NOTE, servers
}
// The JSON keeps the figures and targets plus each tool's summary minus its per-second timeline.
const slim = JSON.parse(JSON.stringify(results, (k, v) => (k === 'latencyTimeline' ? undefined : v)))
writeFileSync(`${outPrefix}.json`, JSON.stringify({ ...meta, figures, targets, summaries: slim }, null, 1) + '\n')
process.stdout.write(md)
