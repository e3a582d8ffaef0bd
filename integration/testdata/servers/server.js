// A small HTTP server that answers every request with the secret it was
// started with. It accepts an inherited socket (socket activation) when
// LISTEN_FDS is set for this very process, otherwise binds PORT itself.
// WARMUP_MS delays the start, as a real app loading its code would.
'use strict';
const http = require('http');

const secret = process.env.SECRET || '';
if (secret === 'crash') {
  process.exit(3);
}
const server = http.createServer((req, res) => {
  res.setHeader('Connection', 'close');
  res.end(secret + '\n');
});

setTimeout(() => {
  if (process.env.LISTEN_FDS && process.env.LISTEN_PID === String(process.pid)) {
    server.listen({ fd: 3 }, () => console.log('serving', secret));
  } else {
    server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('serving', secret));
  }
}, Number(process.env.WARMUP_MS || 0));

process.on('SIGTERM', () => {
  // Stop accepting (closing our copy of the socket; the next generation
  // keeps its own), finish the requests in flight, then leave.
  server.close(() => process.exit(0));
});
