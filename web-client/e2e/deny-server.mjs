// A tiny WebSocket endpoint that refuses access, for the "access refused" UI:
//   /ws/close-4401/...  and /ws/close-4403/...  complete the upgrade, then close with that code
//   anything else       answers the upgrade with HTTP 403
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';

export function startDenyServer() {
  const server = createServer((_req, res) => res.writeHead(404).end());
  let upgrades = 0;
  server.on('upgrade', (req, socket) => {
    upgrades++;
    const m = /\/close-(\d{4})(\/|$)/.exec(req.url);
    if (!m) {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    const reason = Buffer.from(m[1] === '4401' ? 'unauthorized' : 'forbidden');
    const payload = Buffer.alloc(2 + reason.length);
    payload.writeUInt16BE(Number(m[1]), 0);
    reason.copy(payload, 2);
    socket.write(Buffer.concat([Buffer.from([0x88, payload.length]), payload]));
    socket.on('data', () => socket.end());
    socket.on('error', () => {});
    setTimeout(() => socket.destroy(), 1000).unref();
  });
  return new Promise((res) => {
    server.listen(0, '127.0.0.1', () => {
      const port = server.address().port;
      res({
        url: `ws://127.0.0.1:${port}/ws`,
        upgrades: () => upgrades,
        close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
      });
    });
  });
}
