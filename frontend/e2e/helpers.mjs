// Shared by the browser tests: launches Debian's Chromium through playwright-core (no browser
// download), collects console errors, signs in through the UI with WAVECOM_KEY and calls the
// API with it.
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

/** An every-scope API key of the system under test (required): the tests sign in with it. */
export function apiKey() {
  const key = process.env.WAVECOM_KEY;
  if (!key) {
    throw new Error(
      'WAVECOM_KEY is not set: give the browser tests an API key with the send, read and admin scopes of the system at WAVECOM_URL',
    );
  }
  return key;
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
 * for them. Those are expected; anything else is a real console error. Tests that try a bad or
 * revoked key on purpose also expect the 401s (`expect401`).
 */
const EXPECTED = [/Failed to load resource: the server responded with a status of 40[45]/];
const EXPECTED_401 = /Failed to load resource: the server responded with a status of 401/;

/**
 * The create routes answer 429 (the key's rate limit) or 503 (admission control on a busy
 * machine) with Retry-After, storing nothing; the dashboard sends such a batch again
 * (`retryDelayMs` in src/lib/burst.ts). The browser logs those answers too: they are counted in
 * `retried`, and the test judges the outcome (every notification accepted once).
 */
const RETRIED = /Failed to load resource: the server responded with a status of (429|503)/;
const CREATE = /^\/api\/notifications(\/batch)?$/;

/** Endpoints that need no key. */
const OPEN = /^\/api\/(health|metrics)$/;

/**
 * A new page that records console errors, uncaught exceptions, API requests sent without
 * `Authorization: Bearer …` and any URL carrying the key (all reported in `errors`),
 * 404/405 answers (`notFound`), 403 answers (`forbidden`) and the create routes' 429/503
 * answers the page retries (`retried`).
 */
export async function newPage(browser, { width = 1280, height = 900, expect401 = false } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, baseURL: baseUrl() });
  const page = await context.newPage();
  const errors = [];
  const notFound = [];
  const forbidden = [];
  const retried = [];
  const key = apiKey();
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    if (EXPECTED.some((re) => re.test(text)) || (expect401 && EXPECTED_401.test(text))) return;
    const where = msg.location().url;
    if (RETRIED.test(text) && where && CREATE.test(new URL(where, baseUrl()).pathname)) {
      retried.push(text.match(RETRIED)[1]);
      return;
    }
    errors.push(`console: ${text}`);
  });
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('request', async (req) => {
    const url = new URL(req.url());
    if (req.url().includes(key) || /wcn_[0-9a-f]{16}_/.test(req.url())) errors.push(`an API key in a URL: ${url.pathname}`);
    if (!url.pathname.startsWith('/api/') || OPEN.test(url.pathname)) return;
    const auth = (await req.allHeaders().catch(() => ({}))).authorization ?? '';
    if (!/^Bearer wcn_/.test(auth)) errors.push(`${req.method()} ${url.pathname} sent without Authorization: Bearer <key>`);
  });
  page.on('response', (res) => {
    if (res.status() === 404 || res.status() === 405) notFound.push(new URL(res.url()).pathname);
    if (res.status() === 403) forbidden.push(new URL(res.url()).pathname);
  });
  return { context, page, errors, notFound, forbidden, retried };
}

/**
 * Signs in through the UI: opens `path`, is sent to the sign-in page, types the key into the
 * labelled field and is brought back to `path`, signed in (the header shows the tenant).
 */
export async function signIn(page, path = '/', key = apiKey()) {
  await page.goto(path);
  await page.waitForURL(/\/signin\/\?next=/, { timeout: 15_000 });
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor({ timeout: 15_000 });
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  const tenant = page.getByTestId('session-tenant');
  await tenant.waitFor({ timeout: 15_000 });
  const target = new URL(path, baseUrl());
  await page.waitForURL((u) => u.pathname === target.pathname && u.search === target.search, { timeout: 15_000 });
  return (await tenant.innerText()).trim();
}

/** 404s are fine only for endpoints the API does not offer yet. */
export function unexpected404s(notFound) {
  return notFound.filter((p) => !/^\/api\/(events|dlq)(\/|$)/.test(p));
}

/** A call to the API with WAVECOM_KEY (or `init.key`): status, parsed body and headers. */
export async function api(pathname, { key = apiKey(), ...init } = {}) {
  const res = await fetch(`${baseUrl()}${pathname}`, {
    ...init,
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${key}`,
      ...(init.headers ?? {}),
    },
  });
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  return { status: res.status, body, headers: res.headers };
}

export function shot(page, name, opts = {}) {
  return page.screenshot({ path: path.join(SCREENSHOTS, name), fullPage: true, ...opts });
}
