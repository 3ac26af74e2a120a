// @ts-check
import { PHASE_DEVELOPMENT_SERVER } from 'next/constants.js';

/**
 * Production: a static export in out/ that the API serves on the same origin, so the client
 * calls relative URLs (/api/...). Development (`next dev`): the same relative URLs are proxied
 * to the API on 127.0.0.1:8000 (override with WAVECOM_API).
 *
 * @param {string} phase
 * @returns {import('next').NextConfig}
 */
export default function config(phase) {
  /** @type {import('next').NextConfig} */
  const common = {
    reactStrictMode: true,
    // /send -> /send/ -> out/send/index.html: works with any static file server that maps
    // directories to index.html (e.g. Starlette's StaticFiles(html=True)).
    trailingSlash: true,
    poweredByHeader: false,
    images: { unoptimized: true },
  };
  if (phase === PHASE_DEVELOPMENT_SERVER) {
    const api = process.env.WAVECOM_API ?? 'http://127.0.0.1:8000';
    return {
      ...common,
      // /api/health must reach the API as it is, not be redirected to /api/health/.
      skipTrailingSlashRedirect: true,
      // the HMR socket also when the page is opened as 127.0.0.1 rather than localhost
      allowedDevOrigins: ['127.0.0.1'],
      async rewrites() {
        return [{ source: '/api/:path*', destination: `${api}/api/:path*` }];
      },
    };
  }
  return { ...common, output: 'export' };
}
