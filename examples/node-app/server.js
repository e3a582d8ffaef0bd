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

server.listen(port, () => {
  console.log(`cms-site: listening on :${port} as uid ${process.getuid()}, CMS token sha256 ${digest.slice(0, 8)}…`);
});

// docker stop / kubectl delete: hush forwards SIGTERM (to the whole process
// group with HUSH_PROCESS_GROUP=1, see Dockerfile.example, because npm does
// not pass it on to node reliably). Finish in-flight requests and exit.
process.on('SIGTERM', () => {
  console.log('cms-site: SIGTERM, closing');
  server.close(() => process.exit(0));
});
