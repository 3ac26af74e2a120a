// A storm of live updates: with the Overview open and signed in, 3,000 notifications are created
// through the API within seconds (batches of 500; each one goes QUEUED -> PROCESSING -> SENT, so
// well over 1,000 status changes a second). Measured in the browser (window.__wavecomLive): the
// stream delivers a few coalesced messages a second, the page renders the feed at most 4 times a
// second, and the counters still reach the total. The numbers go to screenshots/live-storm.json.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { api, apiKey, baseUrl, launch, newPage, SCREENSHOTS, shot, signIn, unexpected404s } from './helpers.mjs';

const N = Number(process.env.WAVECOM_E2E_STORM ?? 3000);
const BATCH = 500;
const MAX_PER_SECOND = 4;

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const num = (text) => Number(String(text).replace(/[^\d]/g, ''));

/** How GET /api/events answers this key: status and content type (the stream is dropped). */
async function probeEvents() {
  const controller = new AbortController();
  try {
    const res = await fetch(`${baseUrl()}/api/events`, {
      headers: { authorization: `Bearer ${apiKey()}`, accept: 'text/event-stream' },
      signal: controller.signal,
    });
    return { status: res.status, type: res.headers.get('content-type') ?? '' };
  } finally {
    controller.abort();
  }
}

function items(runId, from, count) {
  return Array.from({ length: count }, (_, k) => {
    const i = from + k;
    switch (i % 3) {
      case 0:
        return { type: 'EMAIL', recipient: `storm-${runId}-${i}@example.com`, subject: `Storm ${i}`, message: `Storm ${runId} #${i}`, priority: 'MEDIUM' };
      case 1:
        return { type: 'SMS', recipient: `+23480${String(10_000_000 + i).padStart(8, '0')}`, message: `Storm ${runId} #${i}`, priority: 'HIGH' };
      default:
        return { type: 'PUSH', recipient: `storm-${runId}-token-${String(i).padStart(8, '0')}`, message: `Storm ${runId} #${i}`, priority: 'LOW' };
    }
  });
}

// answers that store nothing and say when to come back: the key's rate limit (429) and the
// API's admission control (503 OVERLOADED: on a busy machine a batch of 500 may wait behind
// another one's commit past ADMISSION_QUEUE_DEADLINE_S); a client is expected to retry both
const RETRIED = new Set([429, 503]);
const MAX_ATTEMPTS = 20;
const refusals = { 429: 0, 503: 0 };

/** One batch, again after Retry-After while the API says nothing of it was stored. */
async function sendBatch(notifications) {
  for (let attempt = 1; ; attempt += 1) {
    const r = await api('/api/notifications/batch', { method: 'POST', body: JSON.stringify({ notifications }) });
    if (RETRIED.has(r.status) && attempt < MAX_ATTEMPTS) {
      refusals[r.status] += 1;
      await sleep(1000 * Math.max(1, Number(r.headers.get('retry-after')) || 1));
      continue;
    }
    assert.ok(r.status === 201 || r.status === 200, `batch answered ${r.status}: ${JSON.stringify(r.body).slice(0, 300)}`);
    assert.equal(r.body.data.rejected, 0, JSON.stringify(r.body.data.results.find((x) => !x.success)));
    return r.body.data.accepted;
  }
}

test(`a storm of ${N} notifications: few messages and renders a second, counters reach the total`, { timeout: 300_000 }, async () => {
  const events = await probeEvents();
  assert.ok(
    events.status === 200 && events.type.startsWith('text/event-stream'),
    `GET /api/events answered ${events.status} (${events.type || 'no content type'}): the live stream is not available in the API`,
  );

  const { page, errors, notFound, context } = await newPage(browser, { width: 1280, height: 900 });
  try {
    await signIn(page, '/');
    await page.getByTestId('live-mode').filter({ hasText: 'Live' }).waitFor({ timeout: 20_000 });
    await page.waitForFunction(() => (window.__wavecomLive?.connects ?? 0) >= 1 && /\d/.test(document.querySelector('[data-testid="count-total"]')?.textContent ?? ''), null, {
      timeout: 15_000,
    });
    const totalBefore = num(await page.getByTestId('count-total').innerText());
    const sentBefore = num(await page.getByTestId('count-SENT').innerText());

    // Sample the feed's counters once a second, in the page.
    await page.evaluate(() => {
      const samples = [];
      window.__stormSamples = samples;
      const tick = () => {
        const c = window.__wavecomLive;
        samples.push({ t: performance.now(), messages: c.messages, updates: c.updates, flushes: c.flushes, resyncs: c.resyncs, connects: c.connects });
      };
      tick();
      window.__stormSampler = setInterval(tick, 1000);
    });

    const runId = Date.now().toString(36);
    const sendStart = Date.now();
    let accepted = 0;
    let next = 0;
    const batches = Math.ceil(N / BATCH);
    const worker = async () => {
      while (next < batches) {
        const b = next++;
        const n = await sendBatch(items(runId, b * BATCH, Math.min(BATCH, N - b * BATCH)));
        accepted += n;
      }
    };
    await Promise.all([worker(), worker()]);
    const sendSeconds = (Date.now() - sendStart) / 1000;
    assert.equal(accepted, N);

    // The Overview's counters reach the total (statistics, refetched on resync too).
    await page.waitForFunction(
      ([total, sent]) =>
        Number(document.querySelector('[data-testid="count-total"]')?.textContent?.replace(/\D/g, '')) >= total &&
        Number(document.querySelector('[data-testid="count-SENT"]')?.textContent?.replace(/\D/g, '')) >= sent,
      [totalBefore + N, sentBefore + N],
      { timeout: 240_000, polling: 250 },
    );
    const reachedAt = await page.evaluate(() => performance.now());
    // the last coalesced messages of the storm
    await sleep(2_000);
    const samples = await page.evaluate(() => {
      clearInterval(window.__stormSampler);
      const c = window.__wavecomLive;
      window.__stormSamples.push({ t: performance.now(), messages: c.messages, updates: c.updates, flushes: c.flushes, resyncs: c.resyncs, connects: c.connects });
      return window.__stormSamples;
    });
    await shot(page, 'live-storm.png', { fullPage: false });

    const first = samples[0];
    const last = samples[samples.length - 1];
    const seconds = (last.t - first.t) / 1000;
    const delta = (k) => last[k] - first[k];
    const peak = (k) =>
      Math.max(0, ...samples.slice(1).map((s, i) => (s[k] - samples[i][k]) / Math.max(1, (s.t - samples[i].t) / 1000)));
    const result = {
      notifications: N,
      batchSize: BATCH,
      sendSeconds: Number(sendSeconds.toFixed(2)),
      createdPerSecond: Math.round(N / sendSeconds),
      refusedThenRetried: { ...refusals },
      secondsUntilCountersReachedTotal: Number(((reachedAt - first.t) / 1000).toFixed(1)),
      measuredSeconds: Number(seconds.toFixed(1)),
      statusChangesAtLeast: 3 * N,
      serverFlushMs: await page.evaluate(() => window.__wavecomLive.serverFlushMs),
      messages: delta('messages'),
      updates: delta('updates'),
      flushes: delta('flushes'),
      resyncs: delta('resyncs'),
      reconnects: delta('connects'),
      messagesPerSecond: { average: Number((delta('messages') / seconds).toFixed(2)), peak: Number(peak('messages').toFixed(2)) },
      flushesPerSecond: { average: Number((delta('flushes') / seconds).toFixed(2)), peak: Number(peak('flushes').toFixed(2)) },
      updatesPerSecond: { average: Number((delta('updates') / seconds).toFixed(1)), peak: Number(peak('updates').toFixed(1)) },
      updatesPerMessage: delta('messages') ? Number((delta('updates') / delta('messages')).toFixed(1)) : 0,
      samples: samples.map((s) => ({ ...s, t: Math.round(s.t - first.t) })),
    };
    writeFileSync(path.join(SCREENSHOTS, 'live-storm.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log(`# live storm: ${JSON.stringify({ ...result, samples: undefined })}`);

    assert.ok(result.messages > 0, 'no notification message arrived over the stream');
    assert.ok(result.updates >= 10 * result.messages, `${result.messages} messages for ${result.updates} updates: the stream is not coalesced`);
    assert.ok(result.messagesPerSecond.peak <= MAX_PER_SECOND, `up to ${result.messagesPerSecond.peak} messages/s`);
    assert.ok(result.flushesPerSecond.peak <= MAX_PER_SECOND, `up to ${result.flushesPerSecond.peak} renders/s of the feed`);
    assert.ok(result.messagesPerSecond.average <= MAX_PER_SECOND && result.flushesPerSecond.average <= MAX_PER_SECOND);
    assert.equal(result.reconnects, 0, 'the stream must hold through the storm');
    assert.deepEqual(errors, []);
    assert.deepEqual(unexpected404s(notFound), []);
    assert.ok(!notFound.includes('/api/events'));
  } finally {
    await context.close();
  }
});
