'use strict';
// Drops the registry URLs (`resolved`) and the `funding` links from package-lock.json, so the
// lock names packages and versions (and their integrity hashes) but no host: npm ci resolves
// them against whichever registry npm is configured with. Run after any `npm install`.
const fs = require('fs');

const path = `${__dirname}/package-lock.json`;
const lock = JSON.parse(fs.readFileSync(path, 'utf8'));
for (const entry of Object.values(lock.packages || {})) {
  delete entry.resolved;
  delete entry.funding;
}
fs.writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
