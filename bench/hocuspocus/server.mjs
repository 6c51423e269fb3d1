#!/usr/bin/env node
// The real Hocuspocus server (@hocuspocus/server), in memory: no extensions, no persistence,
// no auth hook (every provider is accepted read-write). Prints `listening` once it accepts
// connections; stops on SIGINT / SIGTERM.
//
//   node server.mjs --port 1234 [--host 127.0.0.1]
import { Server } from '@hocuspocus/server'

function arg (name, fallback) {
  const i = process.argv.indexOf(`--${name}`)
  if (i !== -1 && i + 1 < process.argv.length) return process.argv[i + 1]
  const eq = process.argv.find((a) => a.startsWith(`--${name}=`))
  return eq ? eq.slice(name.length + 3) : fallback
}

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log('usage: node server.mjs --port PORT [--host 127.0.0.1]\n' +
    'Starts @hocuspocus/server in memory (no extensions, no persistence) and prints `listening`.')
  process.exit(0)
}

const port = Number(arg('port', ''))
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('server.mjs: --port PORT is required (1..65535)')
  process.exit(2)
}
const host = arg('host', '127.0.0.1')

const server = new Server({ port, address: host, quiet: true, name: 'weft-bench' })
await server.listen()
console.log('listening')
