import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { retryAfterMs } from '@/lib/api';
import { applyEvents, LiveFeed, parseEventData, type LiveFeedOptions, type LiveMode } from '@/lib/live';
import type { NotificationEvent } from '@/lib/types';

/** One request the feed made, and the stream the test writes to when it answered 200. */
interface Call {
  url: string;
  headers: Record<string, string>;
  signal: AbortSignal;
  write: (text: string) => void;
  end: () => void;
  fail: () => void;
}

type Answer = { status: number; headers?: Record<string, string>; body?: string } | 'stream' | 'network-error';

/** A fake fetch: answers from `answers` in turn (the last one repeats); 'stream' stays open. */
function fakeFetch(answers: Answer[]) {
  const calls: Call[] = [];
  const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const answer = answers.length > 1 ? answers.shift()! : answers[0]!;
    let ctrl!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        ctrl = c;
      },
    });
    const signal = init?.signal ?? new AbortController().signal;
    const call: Call = {
      url: String(input),
      headers: { ...(init?.headers as Record<string, string>) },
      signal,
      write: (text) => ctrl.enqueue(new TextEncoder().encode(text)),
      end: () => ctrl.close(),
      fail: () => ctrl.error(new TypeError('network error')),
    };
    calls.push(call);
    signal.addEventListener('abort', () => {
      try {
        ctrl.error(new DOMException('aborted', 'AbortError'));
      } catch {
        // already closed
      }
    });
    if (answer === 'network-error') throw new TypeError('Failed to fetch');
    if (answer === 'stream') {
      return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream; charset=utf-8' } });
    }
    return new Response(answer.body ?? JSON.stringify({ success: false, error: { code: 'X', message: 'x', details: [] } }), {
      status: answer.status,
      headers: { 'content-type': 'application/json', ...answer.headers },
    });
  });
  return { fetch, calls };
}

const ev = (id: string, status: string, updatedAt = '2030-01-01T00:00:00.000Z'): NotificationEvent =>
  ({ _id: id, status, type: 'EMAIL', priority: 'HIGH', attempts: 0, provider: null, updatedAt }) as NotificationEvent;

const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/** Lets promises (fetch, stream reads) settle without moving the clock much. */
const settle = () => vi.advanceTimersByTimeAsync(1);

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

function setup(answers: Answer[], options: Partial<LiveFeedOptions> = {}) {
  const { fetch, calls } = fakeFetch(answers);
  let key: string | null = 'wcn_0123456789abcdef_secret';
  const unauthorized: string[] = [];
  const feed = new LiveFeed({
    url: () => '/api/events',
    getApiKey: () => key,
    fetch: fetch as unknown as typeof globalThis.fetch,
    onUnauthorized: (k) => unauthorized.push(k),
    retryMs: 1000,
    maxRetryMs: 8000,
    absentRetryMs: 60_000,
    idleMs: 45_000,
    random: () => 1, // no jitter: the delays are exact
    ...options,
  });
  const modes: LiveMode[] = [];
  const batches: NotificationEvent[][] = [];
  let resyncs = 0;
  const listener = {
    onMode: (m: LiveMode) => modes.push(m),
    onEvents: (b: NotificationEvent[]) => batches.push(b),
    onResync: () => (resyncs += 1),
  };
  return {
    feed,
    fetch,
    calls,
    modes,
    batches,
    unauthorized,
    listener,
    resyncs: () => resyncs,
    setKey: (k: string | null) => (key = k),
  };
}

describe('LiveFeed over fetch', () => {
  it('sends the key as a Bearer header (never in the URL) and goes live on a 200 event stream', async () => {
    const t = setup(['stream']);
    const unsubscribe = t.feed.subscribe(t.listener);
    await settle();
    expect(t.calls).toHaveLength(1);
    expect(t.calls[0]!.url).toBe('/api/events');
    expect(t.calls[0]!.headers).toEqual({ Accept: 'text/event-stream', Authorization: 'Bearer wcn_0123456789abcdef_secret' });
    expect(t.feed.mode).toBe('sse');
    t.calls[0]!.write('retry: 3000\nevent: ready\ndata: {"tenantId":"acme","flushMs":500}\n\n');
    await settle();
    expect(t.feed.counters.serverFlushMs).toBe(500);
    unsubscribe();
    expect(t.calls[0]!.signal.aborted).toBe(true);
    expect(t.modes).toEqual(['polling', 'sse']);
    expect(t.feed.mode).toBe('polling');
  });

  it('hands notification arrays to listeners at most once per flush, newest per id', async () => {
    const t = setup(['stream'], { flushMs: 250 });
    t.feed.subscribe(t.listener);
    await settle();
    const call = t.calls[0]!;
    // A storm: 40 messages a second for 2 s, 50 updates each, over 100 ids, cut anywhere.
    for (let i = 0; i < 80; i += 1) {
      const items = Array.from({ length: 50 }, (_, j) => {
        const n = i * 50 + j;
        return ev(`id${n % 100}`, i >= 70 ? 'SENT' : 'PROCESSING', new Date(Date.UTC(2030, 0, 1) + n).toISOString());
      });
      const text = sse('notification', items);
      call.write(text.slice(0, 17));
      call.write(text.slice(17));
      await vi.advanceTimersByTimeAsync(25);
    }
    await vi.advanceTimersByTimeAsync(300);
    expect(t.feed.counters.messages).toBe(80);
    expect(t.feed.counters.updates).toBe(4000);
    // 2 s of updates: 8 or 9 flushes (one per 250 ms), not 80
    expect(t.batches.length).toBeGreaterThanOrEqual(8);
    expect(t.batches.length).toBeLessThanOrEqual(9);
    expect(t.feed.counters.flushes).toBe(t.batches.length);
    for (const b of t.batches) expect(new Set(b.map((e) => e._id)).size).toBe(b.length);
    const last = new Map<string, string>();
    for (const b of t.batches) for (const e of b) last.set(e._id, e.status);
    expect(last.size).toBe(100);
    expect([...last.values()].every((s) => s === 'SENT')).toBe(true);
  });

  it('turns resync messages into one onResync per flush', async () => {
    const t = setup(['stream']);
    t.feed.subscribe(t.listener);
    await settle();
    t.calls[0]!.write(sse('resync', { reason: 'too many' }) + sse('resync', { reason: 'still too many' }));
    await vi.advanceTimersByTimeAsync(300);
    expect(t.resyncs()).toBe(1);
    expect(t.feed.counters.resyncs).toBe(2);
    expect(t.batches).toEqual([]);
  });

  it('polls meanwhile and reconnects with a doubling backoff when the stream breaks', async () => {
    const t = setup(['stream', 'network-error', { status: 502 }, { status: 503 }, 'stream']);
    t.feed.subscribe(t.listener);
    await settle();
    expect(t.feed.mode).toBe('sse');
    t.calls[0]!.fail();
    await settle();
    expect(t.feed.mode).toBe('polling');
    const at: number[] = [];
    const start = Date.now();
    for (let i = 0; i < 40 && t.calls.length < 5; i += 1) {
      await vi.advanceTimersByTimeAsync(500);
      if (t.calls.length > at.length + 1) at.push(Date.now() - start);
    }
    expect(t.calls).toHaveLength(5);
    // 1 s, then 2 s, 4 s and 8 s later (the last attempt succeeds)
    const gaps = at.map((x, i) => x - (at[i - 1] ?? 0));
    expect(gaps.map((g) => Math.round(g / 1000))).toEqual([1, 2, 4, 8]);
    expect(t.feed.mode).toBe('sse');
    expect(t.modes).toEqual(['polling', 'sse', 'polling', 'sse']);
  });

  it('uses the server retry: as the first delay and reconnects when the stream ends', async () => {
    const t = setup(['stream']);
    t.feed.subscribe(t.listener);
    await settle();
    t.calls[0]!.write('retry: 5000\n\n');
    t.calls[0]!.end();
    await settle();
    expect(t.feed.mode).toBe('polling');
    await vi.advanceTimersByTimeAsync(4900);
    expect(t.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(t.calls).toHaveLength(2);
    expect(t.feed.mode).toBe('sse');
  });

  it('falls back to polling for a long while when the stream is not offered (404, 405, not an event stream)', async () => {
    for (const answer of [{ status: 404 }, { status: 405 }, { status: 200, body: '<html></html>', headers: { 'content-type': 'text/html' } }]) {
      const t = setup([answer, 'stream']);
      t.feed.subscribe(t.listener);
      await settle();
      expect(t.feed.mode).toBe('polling');
      await vi.advanceTimersByTimeAsync(59_000);
      expect(t.calls).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(2_000);
      expect(t.calls).toHaveLength(2);
      expect(t.feed.mode).toBe('sse');
    }
  });

  it('waits as long as Retry-After says on 429', async () => {
    const t = setup([{ status: 429, headers: { 'retry-after': '20' } }, 'stream']);
    t.feed.subscribe(t.listener);
    await settle();
    await vi.advanceTimersByTimeAsync(19_000);
    expect(t.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_500);
    expect(t.calls).toHaveLength(2);
  });

  it('stops on 401 and reports the key (sign out), without reconnecting', async () => {
    const t = setup([{ status: 401 }]);
    t.feed.subscribe(t.listener);
    await settle();
    expect(t.unauthorized).toEqual(['wcn_0123456789abcdef_secret']);
    expect(t.feed.mode).toBe('polling');
    await vi.advanceTimersByTimeAsync(600_000);
    expect(t.calls).toHaveLength(1);
  });

  it('reconnects when nothing arrived for idleMs, keepalives keep it open', async () => {
    const t = setup(['stream'], { idleMs: 45_000 });
    t.feed.subscribe(t.listener);
    await settle();
    for (let i = 0; i < 4; i += 1) {
      await vi.advanceTimersByTimeAsync(15_000);
      t.calls[0]!.write(': keepalive\n\n');
    }
    await settle();
    expect(t.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(45_000);
    expect(t.calls[0]!.signal.aborted).toBe(true);
    expect(t.feed.mode).toBe('polling');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(t.calls).toHaveLength(2);
  });

  it('does not connect without a key, and reconnects with the new key on restart', async () => {
    const t = setup(['stream']);
    t.setKey(null);
    t.feed.subscribe(t.listener);
    await settle();
    expect(t.calls).toHaveLength(0);
    t.setKey('wcn_fedcba9876543210_other');
    t.feed.restart();
    await settle();
    expect(t.calls).toHaveLength(1);
    expect(t.calls[0]!.headers.Authorization).toBe('Bearer wcn_fedcba9876543210_other');
    t.feed.restart();
    await settle();
    expect(t.calls[0]!.signal.aborted).toBe(true);
    expect(t.calls).toHaveLength(2);
  });

  it('ignores what an aborted stream still delivers', async () => {
    const t = setup(['stream']);
    const unsubscribe = t.feed.subscribe(t.listener);
    await settle();
    const old = t.calls[0]!;
    unsubscribe();
    try {
      old.write(sse('notification', [ev('a', 'SENT')]));
    } catch {
      // the stream is already errored
    }
    await vi.advanceTimersByTimeAsync(1_000);
    expect(t.batches).toEqual([]);
    expect(t.calls).toHaveLength(1);
  });
});

describe('parseEventData', () => {
  it('accepts an array (or one object) and drops junk', () => {
    expect(parseEventData(JSON.stringify(ev('a', 'SENT')))).toHaveLength(1);
    expect(parseEventData(JSON.stringify([ev('a', 'SENT'), { x: 1 }, ev('b', 'FAILED'), null]))).toHaveLength(2);
    expect(parseEventData('not json')).toEqual([]);
  });
});

describe('retryAfterMs', () => {
  it('reads seconds or an HTTP date', () => {
    expect(retryAfterMs('7')).toBe(7000);
    expect(retryAfterMs(null)).toBeNull();
    expect(retryAfterMs('soon')).toBeNull();
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(retryAfterMs('Tue, 01 Jan 2030 00:00:30 GMT', now)).toBe(30_000);
  });
});

describe('applyEvents', () => {
  it('updates known rows in place and flags unknown ids', () => {
    const items = [
      { _id: 'a', status: 'QUEUED', updatedAt: '2030-01-01T00:00:00.000Z' },
      { _id: 'b', status: 'QUEUED', updatedAt: '2030-01-01T00:00:05.000Z' },
    ];
    const r = applyEvents(items, [
      { ...ev('a', 'SENT', '2030-01-01T00:00:01.000Z'), provider: 'mailgrid' },
      ev('b', 'PROCESSING', '2030-01-01T00:00:01.000Z'), // older than the row: ignored
    ]);
    expect(r.changed).toBe(true);
    expect(r.unknown).toBe(false);
    expect(r.items.map((i) => i.status)).toEqual(['SENT', 'QUEUED']);
    expect(r.items[0]).toMatchObject({ provider: 'mailgrid' });
    expect(r.items[1]).toBe(items[1]);
    const r2 = applyEvents(items, [ev('zzz', 'SENT')]);
    expect(r2).toEqual({ items, changed: false, unknown: true });
  });
});
