/**
 * Live notification updates: one Server-Sent Events subscription (GET /api/events, event
 * `notification`, data one object or an array of them) shared by the whole app, with a
 * fallback to polling while the stream is absent (404/405), erroring or reconnecting.
 *
 * Updates are coalesced: events are kept per notification id (newest wins) and handed to
 * listeners at most once per `flushMs` (default 250 ms, so at most 4 renders per second
 * however many updates per second arrive).
 *
 * The feed itself does not poll: it reports its mode, and callers poll (usePolling) while
 * the mode is not 'sse'. Framework-free so it can be unit-tested with fakes.
 */
import type { NotificationEvent } from './types';

export type LiveMode = 'sse' | 'polling';

export interface LiveListener {
  onEvents?: (events: NotificationEvent[]) => void;
  onMode?: (mode: LiveMode) => void;
}

export type ProbeResult = 'ok' | 'absent' | 'error';

export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((ev: Event) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
  addEventListener(type: string, listener: (ev: MessageEvent) => void): void;
  close(): void;
}

export interface LiveFeedOptions {
  url: () => string;
  /** Checks that the stream exists before opening an EventSource (avoids console noise). */
  probe?: (url: string) => Promise<ProbeResult>;
  createEventSource?: (url: string) => EventSourceLike;
  flushMs?: number;
  /** first reconnect delay after an error; doubles up to maxRetryMs */
  retryMs?: number;
  maxRetryMs?: number;
  /** how long to wait before asking again after the stream answered 404/405 */
  absentRetryMs?: number;
  timers?: Pick<typeof globalThis, 'setTimeout' | 'clearTimeout'>;
}

const CLOSED = 2;

/** Parses one event's data: an object or an array of them; anything else is dropped. */
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

export async function fetchProbe(url: string, headers: Record<string, string> = {}): Promise<ProbeResult> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 10_000);
  try {
    const res = await fetch(url, {
      headers: { Accept: 'text/event-stream', ...headers },
      signal: controller.signal,
      cache: 'no-store',
    });
    const type = res.headers.get('content-type') ?? '';
    if (res.ok && type.startsWith('text/event-stream')) return 'ok';
    if (res.status === 404 || res.status === 405 || (res.ok && !type.startsWith('text/event-stream'))) {
      return 'absent';
    }
    return 'error';
  } catch {
    return 'error';
  } finally {
    clearTimeout(timer);
    controller.abort(); // we only wanted the headers
  }
}

export class LiveFeed {
  private readonly listeners = new Set<LiveListener>();
  private readonly pending = new Map<string, NotificationEvent>();
  private readonly opts: Required<Omit<LiveFeedOptions, 'timers'>> & {
    timers: Pick<typeof globalThis, 'setTimeout' | 'clearTimeout'>;
  };
  private source: EventSourceLike | null = null;
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private retryDelay: number;
  private running = false;
  private generation = 0;
  private currentMode: LiveMode = 'polling';

  constructor(options: LiveFeedOptions) {
    this.opts = {
      probe: (url) => fetchProbe(url),
      createEventSource: (url) => new EventSource(url),
      flushMs: 250,
      retryMs: 2_000,
      maxRetryMs: 60_000,
      absentRetryMs: 300_000,
      timers: globalThis,
      ...options,
    } as LiveFeed['opts'];
    this.retryDelay = this.opts.retryMs;
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

  /** Feed events in by hand (tests, or another transport). */
  push(events: NotificationEvent[]): void {
    for (const e of events) {
      const seen = this.pending.get(e._id);
      if (!seen || !seen.updatedAt || !e.updatedAt || e.updatedAt >= seen.updatedAt) this.pending.set(e._id, e);
    }
    if (this.pending.size > 0 && this.flushTimer === null) {
      this.flushTimer = this.opts.timers.setTimeout(() => this.flush(), this.opts.flushMs);
    }
  }

  /** Close and reconnect now (e.g. after the API key changed). */
  restart(): void {
    if (!this.running) return;
    this.stop();
    this.start();
  }

  private start(): void {
    this.running = true;
    this.retryDelay = this.opts.retryMs;
    void this.connect();
  }

  private stop(): void {
    this.running = false;
    this.generation += 1;
    this.source?.close();
    this.source = null;
    if (this.retryTimer !== null) this.opts.timers.clearTimeout(this.retryTimer);
    if (this.flushTimer !== null) this.opts.timers.clearTimeout(this.flushTimer);
    this.retryTimer = null;
    this.flushTimer = null;
    this.pending.clear();
    this.setMode('polling');
  }

  private flush(): void {
    this.flushTimer = null;
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    this.pending.clear();
    for (const l of this.listeners) l.onEvents?.(batch);
  }

  private setMode(mode: LiveMode): void {
    if (mode === this.currentMode) return;
    this.currentMode = mode;
    for (const l of this.listeners) l.onMode?.(mode);
  }

  private scheduleConnect(delay: number): void {
    if (!this.running || this.retryTimer !== null) return;
    this.retryTimer = this.opts.timers.setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, delay);
  }

  private async connect(): Promise<void> {
    const gen = this.generation;
    const url = this.opts.url();
    const probe = await this.opts.probe(url);
    if (gen !== this.generation || !this.running) return;
    if (probe === 'absent') {
      this.setMode('polling');
      this.scheduleConnect(this.opts.absentRetryMs);
      return;
    }
    if (probe === 'error') {
      this.setMode('polling');
      this.scheduleConnect(this.backoff());
      return;
    }
    let source: EventSourceLike;
    try {
      source = this.opts.createEventSource(url);
    } catch {
      this.setMode('polling');
      this.scheduleConnect(this.backoff());
      return;
    }
    this.source = source;
    source.onopen = () => {
      if (gen !== this.generation) return;
      this.retryDelay = this.opts.retryMs;
      this.setMode('sse');
    };
    source.onerror = () => {
      if (gen !== this.generation) return;
      // Poll while the stream is down; the browser reconnects by itself unless CLOSED.
      this.setMode('polling');
      if (source.readyState === CLOSED) {
        source.close();
        if (this.source === source) this.source = null;
        this.scheduleConnect(this.backoff());
      }
    };
    source.addEventListener('notification', (ev: MessageEvent) => {
      if (gen !== this.generation) return;
      this.push(parseEventData(String(ev.data)));
    });
  }

  private backoff(): number {
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.opts.maxRetryMs, this.retryDelay * 2);
    return delay;
  }
}

/**
 * Applies a batch of events to a list shown on screen: known rows get the new status in
 * place (only when the event is newer); `unknown` says some event was for a row not shown.
 */
export function applyEvents<T extends { _id: string; status: string; updatedAt?: string }>(
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
    if (item.status === e.status && item.updatedAt === e.updatedAt) return item;
    changed = true;
    return { ...item, status: e.status, updatedAt: e.updatedAt ?? item.updatedAt };
  });
  return { items: changed ? next : items, changed, unknown: seen.size < byId.size };
}
