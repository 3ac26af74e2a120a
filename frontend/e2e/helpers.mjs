// Shared by the browser tests: launches Debian's Chromium through playwright-core (no browser
// download) and collects console errors.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const SCREENSHOTS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'screenshots');
mkdirSync(SCREENSHOTS, { recursive: true });

/** The API that serves the dashboard, e.g. http://127.0.0.1:8000 (required). */
export function baseUrl() {
  const url = process.env.WAVECOM_URL;
  if (!url) {
    throw new Error(
      'WAVECOM_URL is not set: point it at a running WaveCom API that serves the dashboard (frontend/out), e.g. WAVECOM_URL=http://127.0.0.1:8000 npm run test:e2e',
    );
  }
  return url.replace(/\/+$/, '');
}

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * Endpoints announced but not built yet answer 404: the browser logs "Failed to load resource"
 * for them. Those are expected; anything else is a real console error.
 */
const EXPECTED = [/Failed to load resource: the server responded with a status of 40[45]/];

/** A new page that records console errors and uncaught exceptions. */
export async function newPage(browser, { width = 1280, height = 900 } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, baseURL: baseUrl() });
  const page = await context.newPage();
  const errors = [];
  const notFound = [];
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    if (!EXPECTED.some((re) => re.test(text))) errors.push(`console: ${text}`);
  });
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('response', (res) => {
    if (res.status() === 404 || res.status() === 405) notFound.push(new URL(res.url()).pathname);
  });
  return { context, page, errors, notFound };
}

/** 404s are fine only for endpoints the API does not offer yet. */
export function unexpected404s(notFound) {
  return notFound.filter((p) => !/^\/api\/(events|dlq)(\/|$)/.test(p));
}

export async function api(pathname, init = {}) {
  const res = await fetch(`${baseUrl()}${pathname}`, {
    ...init,
    headers: {
      'content-type': 'application/json',
      ...(process.env.WAVECOM_API_KEY ? { authorization: `Bearer ${process.env.WAVECOM_API_KEY}` } : {}),
      ...(init.headers ?? {}),
    },
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

export function shot(page, name, opts = {}) {
  return page.screenshot({ path: path.join(SCREENSHOTS, name), fullPage: true, ...opts });
}
