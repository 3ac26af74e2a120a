/**
 * The one module that talks to the WaveCom API. Every call is typed, unwraps the
 * `{"success": true, "data": ...}` envelope and turns the error envelope
 * `{"success": false, "error": {"code", "message", "details"}}` into an ApiError.
 *
 * In the browser the base URL is '' (same origin: the API serves this static export), so all
 * URLs are relative (/api/...). Tests create their own client with a base URL and/or a fetch.
 */
import { readApiKey, REVOKED_NOTICE, signOut } from './session';
import type {
  BatchResult,
  Callback,
  DeadLetterQuery,
  ErrorDetail,
  Health,
  Identity,
  ListQuery,
  Notification,
  NotificationCreate,
  NotificationPage,
  NotificationWithLogs,
  ProviderList,
  ReplayRequest,
  SystemStats,
} from './types';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: ErrorDetail[];

  /** How long the API asked to wait before trying again (its Retry-After), if it said. */
  readonly retryAfterMs: number | null;

  constructor(status: number, code: string, message: string, details: ErrorDetail[] = [], retryAfterMs: number | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfterMs = retryAfterMs;
  }

  /** Field errors by field path ("recipient", "metadata", "notifications.3.subject", ...). */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const d of this.details) {
      const key = d.field ?? '';
      out[key] = out[key] ? `${out[key]}; ${d.message}` : d.message;
    }
    return out;
  }

  /**
   * The route itself does not exist (yet): 405, or a 404 that is the framework's own
   * "Not Found" rather than an answer about an unknown record.
   */
  get endpointMissing(): boolean {
    return this.status === 405 || (this.status === 404 && this.message === 'Not Found');
  }
}

/** Whether `err` says the endpoint is missing (for pages built ahead of the API). */
export function isEndpointMissing(err: unknown): boolean {
  return err instanceof ApiError && err.endpointMissing;
}

export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) {
    return err.status ? `${err.message} (${err.code}, HTTP ${err.status})` : err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

export interface ApiClientOptions {
  /** '' for same origin (default), or e.g. 'http://127.0.0.1:8000'. */
  baseUrl?: string;
  fetch?: typeof fetch;
  /** Read before every request; the key is sent as a Bearer token when set. */
  getApiKey?: () => string | null;
  /** Called with the key used when a request with the stored key answers 401 (revoked or invalid). */
  onUnauthorized?: (err: ApiError, key: string) => void;
  /** Per-request time limit (ms). */
  timeoutMs?: number;
}

export interface CallOptions {
  signal?: AbortSignal;
}

type Query = Record<string, string | number | undefined | null>;

function queryString(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue;
    params.set(key, String(value));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Seconds of a Retry-After header (delta-seconds or an HTTP date) in ms; null if absent. */
export function retryAfterMs(value: string | null, now = Date.now()): number | null {
  if (!value) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const date = Date.parse(v);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

function toApiError(status: number, body: unknown, statusText: string, retryAfter: number | null = null): ApiError {
  if (isObject(body) && isObject(body.error)) {
    const e = body.error;
    const details = Array.isArray(e.details)
      ? e.details.filter(isObject).map((d) => ({
          field: typeof d.field === 'string' ? d.field : null,
          message: String(d.message ?? 'invalid'),
        }))
      : [];
    return new ApiError(
      status,
      typeof e.code === 'string' ? e.code : 'HTTP_ERROR',
      typeof e.message === 'string' ? e.message : statusText || `HTTP ${status}`,
      details,
      retryAfter,
    );
  }
  // Not our envelope (a proxy, a static server): keep the framework-style "Not Found".
  const message = status === 404 ? 'Not Found' : statusText || `HTTP ${status}`;
  return new ApiError(status, status === 404 ? 'NOT_FOUND' : 'HTTP_ERROR', message, [], retryAfter);
}

export function createApiClient(options: ApiClientOptions = {}) {
  const baseUrl = (options.baseUrl ?? '').replace(/\/+$/, '');
  const doFetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const getApiKey = options.getApiKey ?? (() => null);
  const onUnauthorized = options.onUnauthorized ?? (() => {});
  const timeoutMs = options.timeoutMs ?? 30_000;

  async function request<T>(
    method: 'GET' | 'POST',
    path: string,
    {
      query,
      body,
      envelope = true,
      signal,
      apiKey,
    }: { query?: Query; body?: unknown; envelope?: boolean; signal?: AbortSignal; apiKey?: string } = {},
  ): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const key = apiKey ?? getApiKey();
    if (key) headers.Authorization = `Bearer ${key}`;
    const timeout = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await doFetch(`${baseUrl}${path}${queryString(query)}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: combined,
        cache: 'no-store',
      });
    } catch (err) {
      if (signal?.aborted) throw err; // the caller cancelled: let it see the AbortError
      const reason = timeout.aborted ? `no answer within ${timeoutMs} ms` : errorMessage(err);
      throw new ApiError(0, 'NETWORK_ERROR', `Cannot reach the API: ${reason}`);
    }
    const text = await res.text();
    let parsed: unknown = undefined;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    if (!res.ok) {
      const err = toApiError(res.status, parsed, res.statusText, retryAfterMs(res.headers.get('retry-after')));
      // A key given for this call only (sign-in) is not the stored one: nothing to sign out.
      if (res.status === 401 && apiKey === undefined && key) onUnauthorized(err, key);
      throw err;
    }
    if (parsed === undefined) {
      throw new ApiError(res.status, 'BAD_RESPONSE', 'The API answered with something other than JSON');
    }
    if (!envelope) return parsed as T;
    if (isObject(parsed) && parsed.success === true && 'data' in parsed) return parsed.data as T;
    throw new ApiError(res.status, 'BAD_RESPONSE', 'The API answered without a data envelope');
  }

  const enc = encodeURIComponent;

  return {
    /** URL of the Server-Sent Events stream (read with fetch: it needs the Authorization header). */
    eventsUrl: (): string => `${baseUrl}/api/events`,

    health: (o: CallOptions = {}) => request<Health>('GET', '/api/health', { envelope: false, ...o }),

    /** Who a key is: checks `apiKey` (sign-in) or else the stored key. */
    me: (apiKey?: string, o: CallOptions = {}) => request<Identity>('GET', '/api/auth/me', { apiKey, ...o }),

    getStats: (o: CallOptions = {}) => request<SystemStats>('GET', '/api/notifications/stats/system', o),

    listNotifications: (q: ListQuery = {}, o: CallOptions = {}) =>
      request<NotificationPage>('GET', '/api/notifications', {
        query: { status: q.status, type: q.type, priority: q.priority, page: q.page, limit: q.limit },
        ...o,
      }),

    getNotification: (id: string, o: CallOptions = {}) =>
      request<NotificationWithLogs>('GET', `/api/notifications/${enc(id)}`, o),

    createNotification: (body: NotificationCreate) =>
      request<Notification>('POST', '/api/notifications', { body }),

    /** Up to 1,000 items; each one is accepted or rejected on its own. */
    createBatch: (notifications: NotificationCreate[]) =>
      request<BatchResult>('POST', '/api/notifications/batch', { body: { notifications } }),

    retryNotification: (id: string) =>
      request<Notification>('POST', `/api/notifications/${enc(id)}/retry`, { body: {} }),

    cancelNotification: (id: string) =>
      request<Notification>('POST', `/api/notifications/${enc(id)}/cancel`, { body: {} }),

    listDeadLetters: (q: DeadLetterQuery = {}, o: CallOptions = {}) =>
      request<NotificationPage>('GET', '/api/dlq', {
        query: { type: q.type, reason: q.reason, page: q.page, limit: q.limit },
        ...o,
      }),

    replayDeadLetters: (body: ReplayRequest) =>
      request<{ replayed: number }>('POST', '/api/dlq/replay', { body }),

    /** The status callbacks a notification owed the tenant's endpoints, with their attempts. */
    listNotificationCallbacks: (id: string, o: CallOptions = {}) =>
      request<Callback[]>('GET', `/api/notifications/${enc(id)}/callbacks`, o),

    /** Every provider account (admin scope), its breaker as the live workers report it. */
    listProviders: (o: CallOptions = {}) => request<ProviderList>('GET', '/api/admin/providers', o),
  };
}

export type ApiClient = ReturnType<typeof createApiClient>;

/**
 * The browser's client: same origin, the signed-in key from sessionStorage; a 401 signs out
 * (the sign-in screen then says why).
 */
export const api: ApiClient = createApiClient({
  getApiKey: readApiKey,
  // only if that key is still the signed-in one (not when an old request ends after a new sign-in)
  onUnauthorized: (_err, key) => {
    if (readApiKey() === key) signOut(REVOKED_NOTICE);
  },
});
