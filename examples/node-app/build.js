// `npm run build`: the step that needs the CMS token at build time (a static
// site generator would fetch content with it here). It writes the build
// output to dist/. The token itself must never land in dist/: that
// directory ends up in the image. Only its length and a digest do, so that
// a deployment can be checked against the token it was built with.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');

const token = process.env.CMS_SECRET;
if (!token) {
  console.error('build: CMS_SECRET is not set (run the build under hush with a secret mount)');
  process.exit(1);
}
if (token.startsWith('ref+')) {
  console.error('build: CMS_SECRET is still a reference: run this step as `hush -- npm run build`');
  process.exit(1);
}

const digest = crypto.createHash('sha256').update(token).digest('hex');
fs.mkdirSync('dist', { recursive: true });
fs.writeFileSync('dist/build-info.json', JSON.stringify({
  builtAt: new Date().toISOString(),
  cmsSecretBytes: Buffer.byteLength(token),
  cmsSecretSha256: digest,
}, null, 2) + '\n');
console.log(`build: wrote dist/build-info.json (CMS token sha256 ${digest.slice(0, 8)}…)`);
