// A round-robin TCP proxy: each new connection goes to the next target in turn, so the
// clients of one document spread over every node of a Weft cluster.
//   node bench/rr-proxy.mjs LISTEN_PORT TARGET_PORT[,TARGET_PORT...]
import net from 'node:net'

const [listen, targets] = [Number(process.argv[2]), (process.argv[3] || '').split(',').map(Number)]
if (!listen || !targets.length) { console.error('usage: rr-proxy.mjs LISTEN_PORT PORT,PORT,...'); process.exit(2) }
let next = 0
net.createServer((inbound) => {
  const port = targets[next++ % targets.length]
  const outbound = net.connect(port, '127.0.0.1')
  inbound.pipe(outbound).pipe(inbound)
  const close = () => { inbound.destroy(); outbound.destroy() }
  inbound.on('error', close)
  outbound.on('error', close)
}).listen(listen, '127.0.0.1', () => console.error(`rr-proxy :${listen} -> ${targets.join(',')}`))
