#!/usr/bin/env node
// Development only: serves the static export (out/) the way the API will (directories map to
// index.html, /send -> /send/) and proxies /api/* to the API, streaming (so SSE works too).
//   PORT=3100 API=http://127.0.0.1:8000 node scripts/serve-dev.mjs
import { createReadStream, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'out');
const port = Number(process.env.PORT ?? 3100);
const api = new URL(process.env.API ?? 'http://127.0.0.1:8000');
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

function isFile(p) {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function isDir(p) {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function proxy(req, res) {
  const upstream = http.request(
    { host: api.hostname, port: api.port || 80, method: req.method, path: req.url, headers: { ...req.headers, host: api.host } },
    (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    },
  );
  upstream.on('error', (err) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ success: false, error: { code: 'BAD_GATEWAY', message: String(err.message), details: [] } }));
  });
  req.pipe(upstream);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/api' || url.pathname.startsWith('/api/')) return proxy(req, res);
  const rel = decodeURIComponent(url.pathname).replace(/^\/+/, '');
  const target = path.resolve(root, rel);
  if (!target.startsWith(root)) {
    res.writeHead(403).end();
    return;
  }
  let file = null;
  if (isFile(target)) file = target;
  else if (isDir(target)) {
    if (!url.pathname.endsWith('/')) {
      res.writeHead(307, { location: `${url.pathname}/${url.search}` }).end();
      return;
    }
    if (isFile(path.join(target, 'index.html'))) file = path.join(target, 'index.html');
  }
  if (!file) {
    res.writeHead(404, { 'content-type': TYPES['.html'] });
    createReadStream(path.join(root, '404.html')).pipe(res);
    return;
  }
  res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
  createReadStream(file).pipe(res);
});

server.listen(port, '127.0.0.1', () => {
  console.log(`serving ${root} on http://127.0.0.1:${port}/ (API ${api.origin})`);
});
