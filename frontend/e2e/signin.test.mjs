// Sign-in: the dashboard is locked without a key; a bad key is refused beside the field; a good
// one shows the tenant and its scopes; the key lives in sessionStorage only; a key's scopes
// decide what is offered; a revoked key signs the page out with a message.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { api, apiKey, launch, newPage, shot, signIn, unexpected404s } from './helpers.mjs';

let browser;
let me;
before(async () => {
  me = await api('/api/auth/me');
  assert.equal(me.status, 200, `GET /api/auth/me with WAVECOM_KEY answered ${me.status}: ${JSON.stringify(me.body)}`);
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

// Well formed, but no such key.
const BAD_KEY = `wcn_${'0'.repeat(16)}_${'A'.repeat(43)}`;

/** The /api/ paths a page requests, in order. */
function apiRequests(page) {
  const paths = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/api/')) paths.push(u.pathname);
  });
  return paths;
}

const stored = (page) =>
  page.evaluate(() => ({
    session: sessionStorage.getItem('wavecom.session'),
    local: JSON.stringify({ ...localStorage }),
  }));

test('a bad key is refused beside the field and the pages stay locked; a good key shows the tenant', { timeout: 90_000 }, async () => {
  const { page, errors, notFound, forbidden, context } = await newPage(browser, { expect401: true });
  const requested = apiRequests(page);
  try {
    // Locked: any page sends to the sign-in page, and nothing is asked of the API.
    await page.goto('/notifications/?status=SENT');
    await page.waitForURL(/\/signin\/\?next=%2Fnotifications%2F%3Fstatus%3DSENT$/, { timeout: 15_000 });
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    assert.equal(await page.getByRole('navigation', { name: 'Main' }).count(), 0, 'no navigation before signing in');

    // Empty: a hint, no request.
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    assert.match(await page.getByTestId('error-signin-key').innerText(), /Enter an API key/);
    assert.deepEqual(requested, []);

    // A bad key: the API's own message beside the field.
    const refused = await api('/api/auth/me', { key: BAD_KEY });
    assert.equal(refused.status, 401);
    await page.getByLabel('API key').fill(BAD_KEY);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    const fieldError = page.getByTestId('error-signin-key');
    await fieldError.filter({ hasText: refused.body.error.message }).waitFor({ timeout: 10_000 });
    assert.equal(await page.getByLabel('API key').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.getByTestId('session-tenant').count(), 0);
    assert.equal((await stored(page)).session, null);
    await shot(page, 'signin-refused.png');

    // Still locked elsewhere.
    await page.goto('/dead-letters/');
    await page.waitForURL(/\/signin\/\?next=%2Fdead-letters%2F$/, { timeout: 15_000 });
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    assert.deepEqual(requested, ['/api/auth/me'], 'only the sign-in check may reach the API before signing in');

    // The good key: back to the page asked for, tenant and scopes in the header.
    await page.getByLabel('API key').fill(apiKey());
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/dead-letters\/$/, { timeout: 15_000 });
    assert.equal((await page.getByTestId('session-tenant').innerText()).trim(), me.body.data.tenantId);
    const scopes = await page.getByTestId('session-scopes').innerText();
    for (const s of ['send', 'read', 'admin']) assert.match(scopes, new RegExp(`\\b${s}\\b`));
    await page.getByRole('heading', { level: 1, name: 'Dead letters' }).waitFor();

    // The key is in sessionStorage only (it goes with the tab), never in localStorage.
    const s = await stored(page);
    assert.ok(s.session?.includes(apiKey()), 'the key is kept in sessionStorage');
    assert.ok(!s.local.includes(apiKey()), 'the key must not be in localStorage');
    await shot(page, 'signed-in.png', { fullPage: false });

    // Sign out: back to the sign-in page, the key forgotten.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/signin\//, { timeout: 15_000 });
    await page.getByTestId('signin-notice').filter({ hasText: 'signed out' }).waitFor({ timeout: 10_000 });
    assert.equal((await stored(page)).session, null);

    // A new tab of the same browser is not signed in (sessionStorage is per tab).
    const other = await context.newPage();
    await other.goto('/');
    await other.waitForURL(/\/signin\//, { timeout: 15_000 });
    await other.close();

    assert.deepEqual(errors, []);
    assert.deepEqual(forbidden, []);
    assert.deepEqual(unexpected404s(notFound), []);
  } finally {
    await context.close();
  }
});

test('a read-only key: sending and dead letters are not offered; revoking it signs the page out', { timeout: 90_000 }, async () => {
  const created = await api('/api/admin/keys', { method: 'POST', body: JSON.stringify({ name: 'e2e read-only', scopes: ['read'] }) });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const { key, id } = created.body.data;
  const { page, errors, notFound, forbidden, context } = await newPage(browser, { expect401: true });
  const requested = apiRequests(page);
  try {
    assert.equal(await signIn(page, '/', key), me.body.data.tenantId);
    assert.equal((await page.getByTestId('session-scopes').innerText()).trim(), 'read');
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Overview' }).waitFor();
    assert.equal(await nav.getByRole('link', { name: 'Dead letters' }).count(), 0, 'no Dead letters without the admin scope');
    assert.equal(await nav.getByRole('link', { name: 'Providers' }).count(), 0, 'no Providers without the admin scope');

    // Send and Burst: disabled, and why.
    await page.goto('/send/');
    await page.getByTestId('needs-send').waitFor({ timeout: 15_000 });
    assert.equal(await page.getByRole('button', { name: 'Send', exact: true }).isDisabled(), true);
    await page.goto('/burst/');
    await page.getByTestId('needs-send').waitFor({ timeout: 15_000 });
    assert.equal(await page.getByRole('button', { name: 'Start burst' }).isDisabled(), true);
    await shot(page, 'burst-read-only.png');
    // Dead letters opened by URL: an explanation, not a failing call.
    await page.goto('/dead-letters/');
    await page.getByTestId('needs-admin').waitFor({ timeout: 15_000 });
    assert.ok(!requested.some((p) => p.startsWith('/api/dlq')), 'no /api/dlq request without the admin scope');
    // Providers opened by URL: the same.
    await page.goto('/providers/');
    await page.getByTestId('needs-admin').waitFor({ timeout: 15_000 });
    assert.ok(!requested.some((p) => p.startsWith('/api/admin/providers')), 'no /api/admin/providers request without the admin scope');

    // Revoked while the Overview is open: the next call answers 401 and the page signs out.
    await page.goto('/');
    await page.getByTestId('count-total').filter({ hasText: /\d/ }).waitFor({ timeout: 15_000 });
    const revoked = await api(`/api/admin/keys/${id}`, { method: 'DELETE' });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    await page.waitForURL(/\/signin\/\?next=%2F$/, { timeout: 20_000 });
    await page.getByTestId('signin-notice').filter({ hasText: 'Your key was revoked or is invalid' }).waitFor({ timeout: 10_000 });
    assert.equal((await stored(page)).session, null);
    await shot(page, 'signin-revoked.png');

    assert.deepEqual(errors, []);
    assert.deepEqual(forbidden, [], 'nothing the key may not do is attempted');
    assert.deepEqual(unexpected404s(notFound), []);
  } finally {
    await context.close();
    await api(`/api/admin/keys/${id}`, { method: 'DELETE' });
  }
});
