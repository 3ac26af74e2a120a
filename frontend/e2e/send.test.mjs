// Scenario 1: create a notification through the Send form and watch it reach SENT on the
// notification page without reloading. Also: the pages at 390 px, labels, no console errors.
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

test('Send form: client validation, then SENT on the notification page without a reload', { timeout: 120_000 }, async () => {
  const { page, errors, notFound, context } = await newPage(browser);
  try {
    await signIn(page, '/send/');
    await page.getByRole('heading', { name: 'Send a notification' }).waitFor();

    // Client-side validation: nothing is sent, errors sit beside the fields.
    let posted = 0;
    page.on('request', (r) => {
      if (r.method() === 'POST' && r.url().includes('/api/notifications')) posted += 1;
    });
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    await page.getByTestId('error-send-recipient').waitFor({ timeout: 5_000 });
    await page.getByTestId('error-send-subject').waitFor({ timeout: 5_000 });
    await page.getByTestId('error-send-message').waitFor({ timeout: 5_000 });
    await page.getByLabel('Recipient').fill('not-an-email');
    await page.getByLabel('Metadata (JSON object, optional)').fill('[1, 2]');
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    assert.match(await page.getByTestId('error-send-recipient').innerText(), /valid e-mail/);
    assert.match(await page.getByTestId('error-send-metadata').innerText(), /JSON object/);
    assert.equal(posted, 0, 'invalid input must not reach the API');

    // The subject field exists only for EMAIL.
    await page.getByLabel('Channel').selectOption('SMS');
    assert.equal(await page.getByLabel('Subject').count(), 0);
    await page.getByLabel('Channel').selectOption('EMAIL');

    await page.getByLabel('Recipient').fill('e2e-send@example.com');
    await page.getByLabel('Subject').fill('End-to-end test');
    await page.getByLabel('Message').fill('Sent by the browser test.');
    assert.equal(await page.getByTestId('message-count').innerText(), '25 / 5000');
    await page.getByLabel('Priority').selectOption('HIGH');
    await page.getByLabel('Metadata (JSON object, optional)').fill('{"source": "e2e"}');

    // A marker that a full page load would wipe out.
    await page.evaluate(() => {
      window.__noReload = true;
    });
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    await page.waitForURL(/\/notification\/\?id=[0-9a-f]{24}$/, { timeout: 15_000 });
    const id = new URL(page.url()).searchParams.get('id');
    assert.ok(id);

    await page.locator('[data-testid="detail-status"][data-status="SENT"]').waitFor({ timeout: 60_000 });
    assert.equal(await page.evaluate(() => window.__noReload), true, 'the page must update without reloading');
    await page.getByTestId('live-state').filter({ hasText: 'Final status' }).waitFor({ timeout: 10_000 });
    const timeline = await page.getByTestId('timeline').innerText();
    assert.match(timeline, /SENT/);
    assert.match(timeline, /QUEUED/);
    assert.notEqual((await page.getByTestId('detail-provider').innerText()).trim(), '');
    assert.match(await page.getByTestId('detail-attempts').innerText(), /^0 \/ \d+$/);
    await shot(page, 'notification.png');

    assert.deepEqual(errors, []);
    assert.deepEqual(unexpected404s(notFound), []);
  } finally {
    await context.close();
  }
});

test('schedule a notification from the Send form, then cancel it on its page', { timeout: 60_000 }, async () => {
  const { page, errors, notFound, context } = await newPage(browser);
  try {
    await signIn(page, '/send/');
    await page.getByLabel('Channel').selectOption('PUSH');
    await page.getByLabel('Recipient').fill('e2e-device-token-0123456789');
    await page.getByLabel('Message').fill('Scheduled by the browser test.');
    // datetime-local in the page's own time zone, two hours ahead
    const local = await page.evaluate(() => {
      const d = new Date(Date.now() + 2 * 3600_000);
      const p = (n) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
    });
    await page.getByLabel('Scheduled time (optional, your local time)').fill(local);
    await page.getByRole('button', { name: 'Schedule', exact: true }).click();
    await page.waitForURL(/\/notification\/\?id=[0-9a-f]{24}$/, { timeout: 15_000 });
    await page.locator('[data-testid="detail-status"][data-status="SCHEDULED"]').waitFor({ timeout: 15_000 });
    await page.getByRole('button', { name: 'Cancel notification' }).click();
    await page.locator('[data-testid="detail-status"][data-status="CANCELLED"]').waitFor({ timeout: 15_000 });
    await page.getByTestId('live-state').filter({ hasText: 'Final status' }).waitFor({ timeout: 10_000 });
    assert.deepEqual(errors, []);
    assert.deepEqual(unexpected404s(notFound), []);
  } finally {
    await context.close();
  }
});

test('every page works at 390 px wide: no page-wide overflow, every control labelled', { timeout: 120_000 }, async () => {
  const { page, errors, notFound, context } = await newPage(browser, { width: 390, height: 844 });
  try {
    // The sign-in page first, then every page signed in.
    await page.goto('/');
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor({ timeout: 15_000 });
    assert.ok((await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)) <= 0, 'the sign-in page overflows');
    await shot(page, 'signin-390.png');
    await signIn(page, '/');
    for (const [path, heading, file] of [
      ['/', 'Overview', 'overview-390.png'],
      ['/send/', 'Send a notification', 'send-390.png'],
      ['/notifications/?status=SENT', 'Notifications', 'notifications-390.png'],
      ['/dead-letters/', 'Dead letters', 'dead-letters-390.png'],
      ['/providers/', 'Providers', 'providers-390.png'],
      ['/burst/', 'Burst', 'burst-390.png'],
    ]) {
      await page.goto(path);
      await page.getByRole('heading', { level: 1, name: heading }).waitFor({ timeout: 15_000 });
      // Let the first data arrive (tables, counters) before measuring.
      await page.waitForFunction(() => !document.body.innerText.includes('Loading…'), null, { timeout: 15_000 });
      if (path === '/') await page.getByTestId('count-total').filter({ hasText: /\d/ }).waitFor({ timeout: 15_000 });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${path} is ${overflow}px wider than the screen`);
      const unlabelled = await page.evaluate(() =>
        [...document.querySelectorAll('input, select, textarea, button')]
          .filter((el) => {
            if (el.type === 'hidden') return false;
            if (el.labels && el.labels.length > 0) return false;
            if (el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')) return false;
            return !(el.tagName === 'BUTTON' && el.textContent.trim());
          })
          .map((el) => el.outerHTML.slice(0, 120)),
      );
      assert.deepEqual(unlabelled, [], `${path} has controls without a label`);
      await shot(page, file);
    }
    // The list keeps its filters in the URL.
    await page.goto('/notifications/');
    await page.getByLabel('Status').selectOption('SENT');
    await page.waitForURL(/status=SENT/, { timeout: 5_000 });
    await page.getByLabel('Channel').selectOption('EMAIL');
    await page.waitForURL(/status=SENT&type=EMAIL/, { timeout: 5_000 });
    await page.reload();
    assert.equal(await page.getByLabel('Status').inputValue(), 'SENT');
    assert.equal(await page.getByLabel('Channel').inputValue(), 'EMAIL');

    assert.deepEqual(errors, []);
    assert.deepEqual(unexpected404s(notFound), []);
  } finally {
    await context.close();
  }
});
