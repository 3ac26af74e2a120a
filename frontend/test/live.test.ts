import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { applyEvents, LiveFeed, parseEventData, type EventSourceLike, type ProbeResult } from '@/lib/live';
import type { NotificationEvent } from '@/lib/types';

class FakeSource implements EventSourceLike {
  readyState = 0;
  onopen: ((ev: Event) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  closed = false;
  private handlers: ((ev: MessageEvent) => void)[] = [];
  addEventListener(_type: string, l: (ev: MessageEvent) => void) {
    this.handlers.push(l);
  }
  close() {
    this.closed = true;
    this.readyState = 2;
  }
  open() {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }
  emit(data: unknown) {
    for (const h of this.handlers) h({ data: JSON.stringify(data) } as MessageEvent);
  }
  fail(closed: boolean) {
    this.readyState = closed ? 2 : 0;
    this.onerror?.(new Event('error'));
  }
}

const ev = (id: string, status: string, updatedAt = '2030-01-01T00:00:00.000Z'): NotificationEvent =>
  ({ _id: id, status, type: 'EMAIL', priority: 'HIGH', updatedAt }) as NotificationEvent;

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

function feed(probe: () => Promise<ProbeResult>) {
  const sources: FakeSource[] = [];
  const f = new LiveFeed({
    url: () => '/api/events',
    probe,
    createEventSource: () => {
      const s = new FakeSource();
      sources.push(s);
      return s;
    },
    retryMs: 1000,
    absentRetryMs: 60_000,
  });
  return { f, sources };
}

describe('LiveFeed', () => {
  it('stays on polling while the stream is absent and asks again later', async () => {
    const probe = vi.fn(async (): Promise<ProbeResult> => 'absent');
    const { f, sources } = feed(probe);
    const modes: string[] = [];
    f.subscribe({ onMode: (m) => modes.push(m) });
    await vi.advanceTimersByTimeAsync(10);
    expect(probe).toHaveBeenCalledTimes(1);
    expect(sources).toHaveLength(0);
    expect(modes).toEqual(['polling']);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(probe).toHaveBeenCalledTimes(2);
  });

  it('switches to sse on open and back to polling on error', async () => {
    const { f, sources } = feed(async () => 'ok');
    const modes: string[] = [];
    const unsubscribe = f.subscribe({ onMode: (m) => modes.push(m) });
    await vi.advanceTimersByTimeAsync(0);
    sources[0]!.open();
    expect(f.mode).toBe('sse');
    sources[0]!.fail(false); // reconnecting by itself
    expect(f.mode).toBe('polling');
    sources[0]!.open();
    sources[0]!.fail(true); // closed: the feed reconnects after a delay
    expect(sources[0]!.closed).toBe(true);
    await vi.advanceTimersByTimeAsync(1000);
    expect(sources).toHaveLength(2);
    sources[1]!.open();
    expect(modes).toEqual(['polling', 'sse', 'polling', 'sse', 'polling', 'sse']);
    unsubscribe();
    expect(sources[1]!.closed).toBe(true);
  });

  it('coalesces a storm of events into a few batches, newest per id', async () => {
    const { f, sources } = feed(async () => 'ok');
    const batches: NotificationEvent[][] = [];
    f.subscribe({ onEvents: (b) => batches.push(b) });
    await vi.advanceTimersByTimeAsync(0);
    sources[0]!.open();
    // 1,000 updates in one second over 100 ids, some coalesced server-side into arrays.
    for (let i = 0; i < 1000; i += 1) {
      const t = new Date(Date.UTC(2030, 0, 1, 0, 0, 0, i)).toISOString();
      const e = ev(`id${i % 100}`, i >= 900 ? 'SENT' : 'PROCESSING', t);
      sources[0]!.emit(i % 2 ? e : [e]);
      await vi.advanceTimersByTimeAsync(1);
    }
    await vi.advanceTimersByTimeAsync(300);
    expect(batches.length).toBeLessThanOrEqual(5);
    expect(batches.length).toBeGreaterThanOrEqual(4);
    const last = new Map<string, string>();
    for (const b of batches) for (const e of b) last.set(e._id, e.status);
    expect(last.size).toBe(100);
    expect([...last.values()].every((s) => s === 'SENT')).toBe(true);
  });
});

describe('parseEventData', () => {
  it('accepts one object or an array and drops junk', () => {
    expect(parseEventData(JSON.stringify(ev('a', 'SENT')))).toHaveLength(1);
    expect(parseEventData(JSON.stringify([ev('a', 'SENT'), { x: 1 }, ev('b', 'FAILED')]))).toHaveLength(2);
    expect(parseEventData('not json')).toEqual([]);
  });
});

describe('applyEvents', () => {
  it('updates known rows in place and flags unknown ids', () => {
    const items = [
      { _id: 'a', status: 'QUEUED', updatedAt: '2030-01-01T00:00:00.000Z' },
      { _id: 'b', status: 'QUEUED', updatedAt: '2030-01-01T00:00:05.000Z' },
    ];
    const r = applyEvents(items, [
      ev('a', 'SENT', '2030-01-01T00:00:01.000Z'),
      ev('b', 'PROCESSING', '2030-01-01T00:00:01.000Z'), // older than the row: ignored
    ]);
    expect(r.changed).toBe(true);
    expect(r.unknown).toBe(false);
    expect(r.items.map((i) => i.status)).toEqual(['SENT', 'QUEUED']);
    expect(r.items[1]).toBe(items[1]);
    const r2 = applyEvents(items, [ev('zzz', 'SENT')]);
    expect(r2).toEqual({ items, changed: false, unknown: true });
  });
});
