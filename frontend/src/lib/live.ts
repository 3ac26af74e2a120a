/**
 * Live notification updates: one Server-Sent Events stream (GET /api/events) shared by the
 * whole app, read with fetch() because it must send `Authorization: Bearer <key>` (an
 * EventSource cannot, and the key never goes into a URL).
 *
 * Events: `ready` ({tenantId, flushMs}), `notification` (a JSON array of status changes, one per
 * id, already coalesced by the server), `resync` (the server dropped updates: refetch what is
 * shown). Updates are coalesced here too: kept per notification id (newest wins) and handed to
 * listeners at most once per `flushMs` (default 250 ms: at most 4 renders a second however many
 * updates arrive).
 *
 * While the stream is down, answers 404/405 (not offered), 403 or 5xx, the mode is 'polling' and
 * callers poll (usePolling); it reconnects with exponential backoff (from the server's `retry:`),
 * after Retry-After on 429/503, after `absentRetryMs` on 404/405/403, and when nothing (not even
 * a keepalive) arrived for `idleMs`. A 401 stops it and calls `onUnauthorized` (sign out).
 * Framework-free so it can be unit-tested with a fake fetch and fake timers.
 */
import { retryAfterMs } from './api';
import { readEventStream, SseParser, type SseMessage } from './sse';
import type { NotificationEvent } from './types';

export type LiveMode = 'sse' | 'polling';

export interface LiveListener {
  onEvents?: (events: NotificationEvent[]) => void;
  onMode?: (mode: LiveMode) => void;
  /** The server dropped updates: refetch what is shown instead of relying on events. */
  onResync?: () => void;
}

/** What the feed handled, for the browser tests (window.__wavecomLive) and debugging. */
export interface LiveCounters {
  /** `notification` messages received */
  messages: number;
  /** status changes in them (array items) */
  updates: number;
  /** coalesced batches handed to the listeners (each one a render at most) */
  flushes: number;
  /** `resync` messages received */
  resyncs: number;
  /** streams opened */
  connects: number;
  /** server's coalescing interval from the `ready` event (ms), 0 before it */
  serverFlushMs: number;
}

type Timers = Pick<typeof globalThis, 'setTimeout' | 'clearTimeout'>;

export interface LiveFeedOptions {
  url: () => string;
  /** The key sent as a Bearer token; no key, no stream. */
  getApiKey: () => string | null;
  fetch?: typeof fetch;
  /** The stream answered 401 with this key: the key is revoked or invalid. */
  onUnauthorized?: (key: string) => void;
  flushMs?: number;
  /** first reconnect delay (the server's `retry:` replaces it); doubles up to maxRetryMs */
  retryMs?: number;
  maxRetryMs?: number;
  /** how long to wait before asking again after 404/405/403 (stream not offered to us) */
  absentRetryMs?: number;
  /** reconnect when nothing arrived for this long (the server sends a keepalive every 15 s) */
  idleMs?: number;
  /** 0..1, for the jitter of the reconnect delays (tests pass a constant) */
  random?: () => number;
  timers?: Timers;
}

/** Parses one `notification` event's data: an array of updates (or one); junk is dropped. */
export function parseEventData(data: string): NotificationEvent[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return [];
  }
  const items = Array.isArray(parsed) ? parsed : [parsed];
  return items.filter(
    (e): e is NotificationEvent =>
      typeof e === 'object' && e !== null && typeof (e as { _id?: unknown })._id === 'string' &&
      typeof (e as { status?: unknown }).status === 'string',
  );
}

export class LiveFeed {
  readonly counters: LiveCounters = { messages: 0, updates: 0, flushes: 0, resyncs: 0, connects: 0, serverFlushMs: 0 };
  private readonly listeners = new Set<LiveListener>();
  private readonly pending = new Map<string, NotificationEvent>();
  private resyncPending = false;
  private readonly opts: Required<Omit<LiveFeedOptions, 'onUnauthorized'>> & Pick<LiveFeedOptions, 'onUnauthorized'>;
  private controller: AbortController | null = null;
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private idleTimer: ReturnType<typeof setTimeout> | null = null;
  private retryBase: number;
  private attempt = 0;
  private running = false;
  private generation = 0;
  private currentMode: LiveMode = 'polling';

  constructor(options: LiveFeedOptions) {
    this.opts = {
      fetch: (input, init) => globalThis.fetch(input, init),
      flushMs: 250,
      retryMs: 3_000,
      maxRetryMs: 60_000,
      absentRetryMs: 300_000,
      idleMs: 45_000,
      random: Math.random,
      timers: globalThis,
      ...options,
    };
    this.retryBase = this.opts.retryMs;
  }

  get mode(): LiveMode {
    return this.currentMode;
  }

  subscribe(listener: LiveListener): () => void {
    this.listeners.add(listener);
    listener.onMode?.(this.currentMode);
    if (!this.running) this.start();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  /** Feed updates in by hand (tests, or another transport). */
  push(events: NotificationEvent[]): void {
    for (const e of events) {
      const seen = this.pending.get(e._id);
      if (!seen || !seen.updatedAt || !e.updatedAt || e.updatedAt >= seen.updatedAt) this.pending.set(e._id, e);
    }
    if (this.pending.size > 0) this.scheduleFlush();
  }

  /** Close and connect again now, if anyone listens (after signing in with another key). */
  restart(): void {
    if (this.listeners.size === 0) return;
    this.stop();
    this.start();
  }

  private start(): void {
    this.running = true;
    this.retryBase = this.opts.retryMs;
    this.attempt = 0;
    void this.connect();
  }

  private stop(): void {
    this.running = false;
    this.generation += 1;
    this.closeStream();
    const { clearTimeout } = this.opts.timers;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.retryTimer = null;
    this.flushTimer = null;
    this.pending.clear();
    this.resyncPending = false;
    this.setMode('polling');
  }

  private closeStream(): void {
    if (this.idleTimer !== null) this.opts.timers.clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.controller?.abort();
    this.controller = null;
  }

  private scheduleFlush(): void {
    if (this.flushTimer === null) {
      this.flushTimer = this.opts.timers.setTimeout(() => this.flush(), this.opts.flushMs);
    }
  }

  private flush(): void {
    this.flushTimer = null;
    const resync = this.resyncPending;
    this.resyncPending = false;
    if (this.pending.size === 0 && !resync) return;
    this.counters.flushes += 1;
    if (this.pending.size > 0) {
      const batch = [...this.pending.values()];
      this.pending.clear();
      for (const l of [...this.listeners]) l.onEvents?.(batch);
    }
    if (resync) for (const l of [...this.listeners]) l.onResync?.();
  }

  private setMode(mode: LiveMode): void {
    if (mode === this.currentMode) return;
    this.currentMode = mode;
    for (const l of [...this.listeners]) l.onMode?.(mode);
  }

  /** Stream down: poll meanwhile, and try again after `delay`. */
  private down(delay: number): void {
    this.closeStream();
    this.setMode('polling');
    if (!this.running || this.retryTimer !== null) return;
    this.retryTimer = this.opts.timers.setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, delay);
  }

  private backoff(): number {
    const base = Math.min(this.opts.maxRetryMs, this.retryBase * 2 ** this.attempt);
    this.attempt += 1;
    // "equal jitter": between half and all of the delay, so clients do not come back in step
    return Math.round(base / 2 + (base / 2) * this.opts.random());
  }

  private armIdle(gen: number): void {
    const { setTimeout, clearTimeout } = this.opts.timers;
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (gen === this.generation) this.controller?.abort(); // the read fails: reconnect
    }, this.opts.idleMs);
  }

  private onMessage(m: SseMessage): void {
    switch (m.event) {
      case 'notification': {
        const events = parseEventData(m.data);
        this.counters.messages += 1;
        this.counters.updates += events.length;
        this.push(events);
        break;
      }
      case 'resync':
        this.counters.resyncs += 1;
        this.resyncPending = true;
        this.scheduleFlush();
        break;
      case 'ready': {
        try {
          const ready = JSON.parse(m.data) as { flushMs?: unknown };
          if (typeof ready.flushMs === 'number') this.counters.serverFlushMs = ready.flushMs;
        } catch {
          // a ready without details is still a ready
        }
        break;
      }
      default:
        break; // unknown events are ignored
    }
  }

  private async connect(): Promise<void> {
    const gen = this.generation;
    const key = this.opts.getApiKey();
    if (!key) {
      this.setMode('polling'); // not signed in: nothing to do until restart()
      return;
    }
    const controller = new AbortController();
    this.controller = controller;
    let res: Response;
    try {
      res = await this.opts.fetch(this.opts.url(), {
        headers: { Accept: 'text/event-stream', Authorization: `Bearer ${key}` },
        cache: 'no-store',
        signal: controller.signal,
      });
    } catch {
      if (gen === this.generation) this.down(this.backoff());
      return;
    }
    if (gen !== this.generation) {
      controller.abort();
      return;
    }
    const type = res.headers.get('content-type') ?? '';
    if (!res.ok || !type.startsWith('text/event-stream') || !res.body) {
      void res.body?.cancel().catch(() => {});
      if (res.status === 401) {
        this.closeStream();
        this.running = false; // no reconnect with a key the API refuses
        this.generation += 1;
        this.setMode('polling');
        this.opts.onUnauthorized?.(key);
        return;
      }
      const absent = res.ok || res.status === 403 || res.status === 404 || res.status === 405;
      const wait = absent ? this.opts.absentRetryMs : Math.max(this.backoff(), retryAfterMs(res.headers.get('retry-after')) ?? 0);
      this.down(wait);
      return;
    }

    this.counters.connects += 1;
    this.attempt = 0;
    this.setMode('sse');
    const parser = new SseParser({
      onMessage: (m) => {
        if (gen === this.generation) this.onMessage(m);
      },
      onRetry: (ms) => {
        if (gen === this.generation) this.retryBase = Math.max(100, ms);
      },
    });
    this.armIdle(gen);
    try {
      await readEventStream(res.body, parser, () => {
        if (gen === this.generation) this.armIdle(gen);
      });
    } catch {
      // aborted (stopped, idle) or the connection broke: handled below
    }
    if (gen !== this.generation) return;
    this.down(this.backoff());
  }
}

/**
 * Applies a batch of updates to a list shown on screen: known rows get the new status (and
 * provider) in place, only when the update is newer; `unknown` says some update was for a row
 * not shown.
 */
export function applyEvents<T extends { _id: string; status: string; updatedAt?: string; provider?: string }>(
  items: T[],
  events: NotificationEvent[],
): { items: T[]; changed: boolean; unknown: boolean } {
  const byId = new Map(events.map((e) => [e._id, e]));
  let changed = false;
  const seen = new Set<string>();
  const next = items.map((item) => {
    const e = byId.get(item._id);
    if (!e) return item;
    seen.add(item._id);
    if (item.updatedAt && e.updatedAt && e.updatedAt < item.updatedAt) return item;
    const provider = e.provider ?? item.provider;
    if (item.status === e.status && item.updatedAt === e.updatedAt && item.provider === provider) return item;
    changed = true;
    return { ...item, status: e.status, updatedAt: e.updatedAt ?? item.updatedAt, provider };
  });
  return { items: changed ? next : items, changed, unknown: seen.size < byId.size };
}
