// Scenario: a notification's page shows its status callback and each attempt. A receiver on
// loopback refuses the first POST (503) and takes the next; the page lists both answers.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { api, launch, newPage, shot, signIn, unexpected404s } from './helpers.mjs';

let browser;
let receiver;
let posts = 0;
before(async () => {
  browser = await launch();
  receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      posts += 1;
      res.writeHead(posts === 1 ? 503 : 204);
      res.end();
    });
  });
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
});
after(async () => {
  await browser?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

test('the notification page lists its callback with a refused and a delivered attempt', { timeout: 120_000 }, async () => {
  const url = `http://127.0.0.1:${receiver.address().port}/hooks`;
  const created = await api('/api/admin/callbacks', {
    method: 'POST',
    body: JSON.stringify({ url, events: ['notification.sent'] }),
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const endpoint = created.body.data.id;
  const { page, errors, notFound, context } = await newPage(browser);
  try {
    const sent = await api('/api/notifications', {
      method: 'POST',
      body: JSON.stringify({ type: 'EMAIL', recipient: 'e2e-callback@example.com', subject: 'Hi', message: 'Called back.' }),
    });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    const id = sent.body.data._id;
    await signIn(page, `/notification/?id=${id}`);
    await page.getByRole('heading', { name: 'Status callbacks' }).waitFor({ timeout: 30_000 });
    // the page reloads the callbacks with the notification: wait for the delivered one
    const delivered = page.locator('[data-testid="callbacks"] li[data-state="delivered"]');
    for (let i = 0; i < 60 && (await delivered.count()) === 0; i += 1) {
      await page.reload();
      await page.getByRole('heading', { name: 'Status callbacks' }).waitFor({ timeout: 15_000 });
      await delivered.first().waitFor({ timeout: 1_000 }).catch(() => {});
    }
    const text = await delivered.first().innerText();
    assert.match(text, /notification\.sent/);
    assert.match(text, /Delivered after 2 attempts/);
    assert.match(text, /HTTP 503/);
    assert.match(text, /HTTP 204/);
    await shot(page, 'notification-callbacks.png');
    assert.deepEqual(errors, []);
    assert.deepEqual(unexpected404s(notFound), []);
  } finally {
    await context.close();
    // the other scenarios (a burst of 500) owe it nothing
    await api(`/api/admin/callbacks/${endpoint}`, { method: 'DELETE' });
  }
});
