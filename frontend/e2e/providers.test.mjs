// The Providers page: the seeded email accounts (mailgrid, postbox: PROVIDERS_EMAIL of
// tests/test_dashboard.py) are listed in the order they are tried, with the breaker state the
// live workers report, as GET /api/admin/providers says.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { api, launch, newPage, shot, signIn, unexpected404s } from './helpers.mjs';

const SEEDED = ['mailgrid', 'postbox'];

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function until(what, fn, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last && last.ok) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 500)); // polling interval of the check, not a fixed wait
  }
}

async function listed() {
  const r = await api('/api/admin/providers');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.data;
}

test('the Providers page lists the seeded accounts with their breakers', { timeout: 90_000 }, async () => {
  // The email worker reports its breakers every couple of seconds once it runs.
  await until(
    'the email worker to report the breakers of mailgrid and postbox',
    async () => {
      const data = await listed();
      const byName = Object.fromEntries(data.providers.map((p) => [p.name, p]));
      return { ok: SEEDED.every((n) => byName[n]?.breaker), seen: data.providers.map((p) => [p.name, p.breaker]) };
    },
    45_000,
  );

  const { page, errors, notFound, forbidden, context } = await newPage(browser);
  try {
    await signIn(page, '/providers/');
    await page.getByRole('heading', { level: 1, name: 'Providers' }).waitFor({ timeout: 15_000 });
    const nav = page.getByRole('navigation', { name: 'Main' });
    assert.equal(await nav.getByRole('link', { name: 'Providers' }).getAttribute('aria-current'), 'page');
    const table = page.getByTestId('providers-table');
    await table.waitFor({ timeout: 15_000 });
    for (const header of ['Name', 'Channel', 'Driver', 'Priority', 'Enabled', 'Rate cap', 'Tenants', 'Credentials', 'Breaker', 'Managed by', 'Revision']) {
      assert.equal(await table.getByRole('columnheader', { name: header, exact: true }).count(), 1, `column ${header}`);
    }

    // The page refreshes every few seconds: it agrees with the API within a few refreshes.
    await until(
      'the page to show the breakers and revision the API reports',
      async () => {
        const data = await listed();
        const shown = {};
        for (const name of SEEDED) {
          const badge = page.getByTestId(`provider-breaker-${name}`);
          shown[name] = (await badge.count()) ? { state: await badge.getAttribute('data-state'), text: (await badge.innerText()).trim() } : null;
        }
        const revision = (await page.getByTestId('providers-revision').innerText()).trim();
        const want = Object.fromEntries(data.providers.map((p) => [p.name, p.breaker]));
        const ok =
          revision === String(data.revision) &&
          SEEDED.every((n) => {
            const b = want[n];
            const s = shown[n];
            return b && s && s.state === b.state && s.text === `${b.state} · ${b.workers} worker${b.workers === 1 ? '' : 's'}`;
          });
        return { ok, shown, want: SEEDED.map((n) => [n, want[n]]), revision, apiRevision: data.revision };
      },
      20_000,
    );

    // Both in the EMAIL group, in the order they are tried (priority, then name).
    const data = await listed();
    const email = data.providers
      .filter((p) => p.channel === 'EMAIL')
      .sort((a, b) => a.priority - b.priority || a.name.localeCompare(b.name))
      .map((p) => p.name);
    const rows = await page.locator('tbody[data-channel="EMAIL"] tr[data-provider]').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-provider')));
    assert.deepEqual(rows, email);
    for (const name of SEEDED) {
      const row = page.locator(`tr[data-provider="${name}"]`);
      assert.equal((await row.getByRole('rowheader').innerText()).trim(), name);
      // Channel, Driver, Priority, Enabled, Rate cap, Tenants, Credentials, Breaker, Managed by, Revision
      const cells = (await row.getByRole('cell').allInnerTexts()).map((c) => c.trim());
      assert.equal(cells.length, 10, JSON.stringify(cells));
      assert.equal(cells[0], 'EMAIL');
      assert.equal(cells[5], 'all', `${name} is shared by every tenant`);
      assert.match(cells[6], /^(sealed|none)$/);
    }
    // Nothing of the accounts' settings is shown, only how many there are.
    assert.doesNotMatch(await table.innerText(), /latencyMs|rules|@fail\.wavecom\.test/);
    await shot(page, 'providers.png');

    assert.deepEqual(errors, []);
    assert.deepEqual(forbidden, []);
    assert.deepEqual(unexpected404s(notFound), []);
  } finally {
    await context.close();
  }
});
