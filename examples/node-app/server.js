// `npm start`: a small HTTP server that needs the CMS token at run time.
// Under hush, process.env.CMS_SECRET holds the token; hush's own
// environment, `docker inspect` and the image only hold the reference.
'use strict';
const crypto = require('node:crypto');
const http = require('node:http');

const token = process.env.CMS_SECRET || '';
const digest = crypto.createHash('sha256').update(token).digest('hex');
const port = Number(process.env.PORT || 3000);

const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  // Show which token the process runs with, never the token itself.
  res.end(JSON.stringify({ cmsSecretSha256: digest.slice(0, 8), uid: process.getuid() }) + '\n');
});

// Under `hush --listen tcp://0.0.0.0:3000 --on-change rolling` (see
// Dockerfile.example) hush holds the listening socket and passes it as fd 3:
// the old and the new process accept from the same queue during a rotation,
// so no connection is refused. LISTEN_PID names the process the socket is
// for (sd_listen_fds(3)); without it, bind the port as usual.
const inherited = process.env.LISTEN_FDS && process.env.LISTEN_PID === String(process.pid);
const ready = () => {
  console.log(`cms-site: ${inherited ? 'serving the socket hush passed' : `listening on :${port}`} as uid ${process.getuid()}, CMS token sha256 ${digest.slice(0, 8)}…`);
};
if (inherited) {
  server.listen({ fd: 3 }, ready);
} else {
  server.listen(port, ready);
}

// docker stop / kubectl delete, or the end of a rolling rotation: hush sends
// SIGTERM. Stop accepting (this closes only this process's copy of the
// socket), finish in-flight requests and exit.
process.on('SIGTERM', () => {
  console.log('cms-site: SIGTERM, closing');
  server.close(() => process.exit(0));
});
