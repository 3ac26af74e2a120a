// Scenario 3: replay a dead letter from the Dead letters page. Needs GET /api/dlq and a worker
// whose provider fails the recipient WAVECOM_DLQ_RECIPIENT permanently (a mock provider rule,
// e.g. PROVIDERS_EMAIL='[{"name":"...","rules":[{"suffix":"@fail.wavecom.test","outcome":"permanent"}]}]').
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { api, launch, newPage, shot, signIn, unexpected404s } from './helpers.mjs';

const RECIPIENT = process.env.WAVECOM_DLQ_RECIPIENT ?? 'e2e-dead-letter@fail.wavecom.test';

let browser;
let dlqStatus = 0;
before(async () => {
  dlqStatus = (await api('/api/dlq?limit=1')).status;
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function until(what, fn, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500)); // polling interval of the API check, not a fixed wait
  }
}

test('without the dead-letter API the page says it is not available', { timeout: 60_000 }, async (t) => {
  if (dlqStatus !== 404 && dlqStatus !== 405) {
    t.skip(`GET /api/dlq answers ${dlqStatus}: the endpoints exist`);
    return;
  }
  const { page, errors, notFound, context } = await newPage(browser);
  try {
    await signIn(page, '/dead-letters/');
    await page.getByTestId('dlq-unavailable').waitFor({ timeout: 15_000 });
    assert.match(await page.getByTestId('dlq-unavailable').innerText(), /not available/);
    await shot(page, 'dead-letters-unavailable.png');
    assert.deepEqual(errors, []);
    assert.deepEqual(unexpected404s(notFound), []);
  } finally {
    await context.close();
  }
});

test('a DLQ replay from the Dead letters page', { timeout: 180_000 }, async (t) => {
  if (dlqStatus === 404 || dlqStatus === 405) {
    t.skip(`GET /api/dlq answers ${dlqStatus}: the dead-letter endpoints are not implemented in the API yet`);
    return;
  }
  assert.equal(dlqStatus, 200, `GET /api/dlq answered ${dlqStatus}`);

  const created = await api('/api/notifications', {
    method: 'POST',
    body: JSON.stringify({ type: 'EMAIL', recipient: RECIPIENT, subject: 'DLQ e2e', message: 'Meant to fail' }),
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.data._id;
  await until(
    `${id} to be dead-lettered (is a worker configured to fail ${RECIPIENT} permanently?)`,
    async () => {
      const r = await api('/api/dlq?type=EMAIL&limit=100');
      return r.status === 200 && r.body.data.notifications.some((n) => n._id === id);
    },
    90_000,
  );
  const logsBefore = (await api(`/api/notifications/${id}`)).body.data.logs.length;

  const { page, errors, notFound, context } = await newPage(browser);
  try {
    await signIn(page, '/dead-letters/?type=EMAIL');
    const row = page.locator(`tr[data-id="${id}"]`);
    await row.waitFor({ timeout: 15_000 });
    await row.getByRole('checkbox').check();
    await page.getByRole('button', { name: 'Replay selected (1)' }).click();
    await page.getByTestId('dlq-result').filter({ hasText: /Replayed 1 notification\b/ }).waitFor({ timeout: 15_000 });
    await shot(page, 'dead-letters.png');
    await until(
      `${id} to be processed again after the replay`,
      async () => (await api(`/api/notifications/${id}`)).body.data.logs.length > logsBefore,
      60_000,
    );
    assert.deepEqual(errors, []);
    assert.deepEqual(unexpected404s(notFound), []);
  } finally {
    await context.close();
  }
});
