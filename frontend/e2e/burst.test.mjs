// Scenario 2: a burst of 500 from the Burst page reaches 500 delivered, watched on the Burst
// page and on the Overview (open in another window at the same time).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launch, newPage, shot, signIn, unexpected404s } from './helpers.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const N = Number(process.env.WAVECOM_E2E_BURST ?? 500);
const num = (text) => Number(String(text).replace(/[^\d]/g, ''));

test(`a burst of ${N} reaches ${N} delivered`, { timeout: 300_000 }, async () => {
  const overview = await newPage(browser, { width: 1280, height: 900 });
  const burst = await newPage(browser, { width: 1280, height: 900 });
  try {
    await signIn(overview.page, '/');
    const sentCounter = overview.page.getByTestId('count-SENT');
    await overview.page.waitForFunction(
      () => /\d/.test(document.querySelector('[data-testid="count-SENT"]')?.textContent ?? ''),
      null,
      { timeout: 15_000 },
    );
    const sentBefore = num(await sentCounter.innerText());

    await signIn(burst.page, '/burst/');
    await burst.page.getByLabel('Notifications').fill(String(N));
    await burst.page.getByLabel('Batch size').fill('100');
    await burst.page.getByLabel('Priority').selectOption('MIXED');
    await burst.page.getByRole('button', { name: 'Start burst' }).click();

    await burst.page.waitForFunction(
      (n) => document.querySelector('[data-testid="burst-accepted"]')?.textContent?.replace(/\D/g, '') === String(n),
      N,
      { timeout: 60_000 },
    );
    assert.equal(num(await burst.page.getByTestId('burst-rejected').innerText()), 0);
    // Every one of this run's notifications confirmed SENT, by id...
    await burst.page.waitForFunction(
      (n) => document.querySelector('[data-testid="burst-confirmed"]')?.textContent?.replace(/\D/g, '') === String(n),
      N,
      { timeout: 240_000 },
    );
    // ...and the statistics' SENT counter moved by as many.
    await burst.page.waitForFunction(
      (n) => document.querySelector('[data-testid="burst-delivered"]')?.textContent?.replace(/\D/g, '') === String(n),
      N,
      { timeout: 30_000 },
    );
    assert.equal(num(await burst.page.getByTestId('burst-confirmed-failed').innerText()), 0);
    await burst.page.getByTestId('burst-state').filter({ hasText: 'Complete' }).waitFor({ timeout: 30_000 });
    await shot(burst.page, 'burst.png');

    // The Overview, open all along, counts them too and drew the delivery rate.
    await overview.page.waitForFunction(
      (target) => Number(document.querySelector('[data-testid="count-SENT"]')?.textContent?.replace(/\D/g, '')) >= target,
      sentBefore + N,
      { timeout: 30_000 },
    );
    await overview.page.waitForFunction(
      () => (document.querySelector('.series-delivered')?.getAttribute('points') ?? '').split(' ').length > 3,
      null,
      { timeout: 30_000 },
    );
    await overview.page.waitForFunction(
      () => ['email', 'sms', 'push'].every((c) => ['high', 'standard'].every((l) => document.querySelector(`[data-testid="depth-${c}-${l}"]`)?.textContent === '0')),
      null,
      { timeout: 60_000 },
    );
    // ...and lists the newest of them.
    await overview.page.locator('[data-testid="notification-table"] tr[data-id]').first().waitFor({ timeout: 30_000 });
    await shot(overview.page, 'overview.png', { fullPage: false });

    if (burst.retried.length) console.log(`# the Burst page sent ${burst.retried.length} refused batches again (${burst.retried.join(', ')})`);
    for (const p of [overview, burst]) {
      assert.deepEqual(p.errors, []);
      assert.deepEqual(unexpected404s(p.notFound), []);
    }
  } finally {
    await overview.context.close();
    await burst.context.close();
  }
});
