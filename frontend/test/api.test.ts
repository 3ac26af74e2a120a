import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApiError, createApiClient, isEndpointMissing } from '@/lib/api';

/** A tiny local HTTP server standing in for the API: records requests, answers from a table. */
interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}
let server: Server;
let base = '';
let seen: Seen[] = [];
let answer: (s: Seen) => { status: number; body?: unknown; raw?: string; headers?: Record<string, string> } = () => ({ status: 500 });

beforeAll(async () => {
  server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      const s: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: data ? JSON.parse(data) : undefined };
      seen.push(s);
      const a = answer(s);
      res.writeHead(a.status, { 'content-type': a.raw !== undefined ? 'text/plain' : 'application/json', ...a.headers });
      res.end(a.raw ?? (a.body === undefined ? '' : JSON.stringify(a.body)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  seen = [];
});

const ok = (data: unknown) => ({ status: 200, body: { success: true, data } });

describe('api client', () => {
  it('lists with only the set filters and unwraps the envelope', async () => {
    const page = { notifications: [], pagination: { currentPage: 2, totalPages: 0, totalItems: 0, totalItemsExact: true, itemsPerPage: 10 } };
    answer = () => ok(page);
    const client = createApiClient({ baseUrl: base });
    const result = await client.listNotifications({ status: 'SENT', type: '', priority: undefined, page: 2, limit: 10 });
    expect(result).toEqual(page);
    expect(seen[0]!.method).toBe('GET');
    expect(seen[0]!.url).toBe('/api/notifications?status=SENT&page=2&limit=10');
    expect(seen[0]!.headers.authorization).toBeUndefined();
  });

  it('sends the API key as a Bearer token when one is set', async () => {
    answer = () => ok({ total: 0, byStatus: {}, byType: {}, byPriority: {}, queueDepth: {}, averageProcessingTime: 0, successRate: 100 });
    let key: string | null = 'k-123';
    const client = createApiClient({ baseUrl: base, getApiKey: () => key });
    await client.getStats();
    expect(seen[0]!.url).toBe('/api/notifications/stats/system');
    expect(seen[0]!.headers.authorization).toBe('Bearer k-123');
    key = null;
    await client.getStats();
    expect(seen[1]!.headers.authorization).toBeUndefined();
  });

  it('checks a key at sign-in with GET /api/auth/me, without signing out on its 401', async () => {
    const unauthorized: string[] = [];
    answer = (s) =>
      s.headers.authorization === 'Bearer good'
        ? ok({ tenantId: 'acme', keyId: '0123456789abcdef', scopes: ['admin', 'read', 'send'] })
        : { status: 401, body: { success: false, error: { code: 'UNAUTHORIZED', message: 'The API key is not valid', details: [] } } };
    const client = createApiClient({ baseUrl: base, getApiKey: () => 'stored', onUnauthorized: (_e, k) => unauthorized.push(k) });
    expect(await client.me('good')).toEqual({ tenantId: 'acme', keyId: '0123456789abcdef', scopes: ['admin', 'read', 'send'] });
    expect(seen[0]!.url).toBe('/api/auth/me');
    const err = (await client.me('bad').catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(401);
    expect(err.message).toBe('The API key is not valid');
    expect(seen[1]!.headers.authorization).toBe('Bearer bad');
    expect(unauthorized).toEqual([]);
  });

  it('lists the provider accounts with GET /api/admin/providers and the stored key', async () => {
    const data = {
      revision: 12,
      providers: [{ name: 'mailgrid', channel: 'EMAIL', priority: 10, breaker: { state: 'closed', workers: 1 } }],
    };
    answer = () => ok(data);
    const client = createApiClient({ baseUrl: base, getApiKey: () => 'k-admin' });
    expect(await client.listProviders()).toEqual(data);
    expect(seen[0]!.method).toBe('GET');
    expect(seen[0]!.url).toBe('/api/admin/providers');
    expect(seen[0]!.headers.authorization).toBe('Bearer k-admin');
  });

  it('reports a 401 with the stored key (revoked) and not a 403', async () => {
    const unauthorized: string[] = [];
    let status = 401;
    answer = () => ({ status, body: { success: false, error: { code: status === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN', message: 'no', details: [] } } });
    const client = createApiClient({ baseUrl: base, getApiKey: () => 'k-1', onUnauthorized: (_e, k) => unauthorized.push(k) });
    expect(((await client.getStats().catch((e: unknown) => e)) as ApiError).code).toBe('UNAUTHORIZED');
    expect(unauthorized).toEqual(['k-1']);
    status = 403;
    expect(((await client.listDeadLetters().catch((e: unknown) => e)) as ApiError).code).toBe('FORBIDDEN');
    expect(unauthorized).toEqual(['k-1']);
  });

  it('posts JSON for create, batch, retry, cancel and replay', async () => {
    answer = (s) => {
      if (s.url === '/api/dlq/replay') return ok({ replayed: 3 });
      if (s.url === '/api/notifications/batch') return { status: 201, body: { success: true, data: { accepted: 1, rejected: 0, results: [] }, message: '1 of 1' } };
      return { status: 201, body: { success: true, data: { _id: 'abc', status: 'QUEUED' }, message: 'ok' } };
    };
    const client = createApiClient({ baseUrl: base });
    const item = { type: 'SMS' as const, recipient: '+2348012345678', message: 'hi' };
    expect((await client.createNotification(item))._id).toBe('abc');
    expect((await client.createBatch([item])).accepted).toBe(1);
    await client.retryNotification('id/1');
    await client.cancelNotification('id2');
    expect(await client.replayDeadLetters({ type: 'EMAIL', reason: 'max_retries' })).toEqual({ replayed: 3 });
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'POST /api/notifications',
      'POST /api/notifications/batch',
      'POST /api/notifications/id%2F1/retry',
      'POST /api/notifications/id2/cancel',
      'POST /api/dlq/replay',
    ]);
    expect(seen[0]!.headers['content-type']).toBe('application/json');
    expect(seen[0]!.body).toEqual(item);
    expect(seen[1]!.body).toEqual({ notifications: [item] });
    expect(seen[4]!.body).toEqual({ type: 'EMAIL', reason: 'max_retries' });
  });

  it('turns the error envelope into an ApiError with field details', async () => {
    answer = () => ({
      status: 400,
      body: {
        success: false,
        error: {
          code: 'VALIDATION_ERROR',
          message: 'Invalid request: recipient: must be a valid e-mail address for EMAIL',
          details: [
            { field: 'recipient', message: 'must be a valid e-mail address for EMAIL' },
            { field: 'recipient', message: 'second' },
            { field: null, message: 'general' },
          ],
        },
      },
    });
    const client = createApiClient({ baseUrl: base });
    const err = await client.createNotification({ type: 'EMAIL', recipient: 'x', message: 'y' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    const e = err as ApiError;
    expect(e.status).toBe(400);
    expect(e.code).toBe('VALIDATION_ERROR');
    expect(e.fieldErrors()).toEqual({ recipient: 'must be a valid e-mail address for EMAIL; second', '': 'general' });
    expect(e.endpointMissing).toBe(false);
  });

  it("keeps the API's Retry-After on the error (admission control's 503), null without one", async () => {
    const overloaded = { success: false, error: { code: 'OVERLOADED', message: 'Retry after 1s.', details: [] } };
    answer = (s) => (s.url.endsWith('/batch') ? { status: 503, body: overloaded, headers: { 'retry-after': '2' } } : { status: 503, body: overloaded });
    const client = createApiClient({ baseUrl: base });
    const withHeader = (await client.createBatch([]).catch((e: unknown) => e)) as ApiError;
    expect([withHeader.status, withHeader.code, withHeader.retryAfterMs]).toEqual([503, 'OVERLOADED', 2000]);
    const without = (await client.createNotification({ type: 'SMS', recipient: '+2348012345678', message: 'x' }).catch((e: unknown) => e)) as ApiError;
    expect([without.status, without.retryAfterMs]).toEqual([503, null]);
  });

  it('tells a missing endpoint from an unknown record', async () => {
    answer = (s) =>
      s.url.startsWith('/api/dlq')
        ? { status: 404, body: { success: false, error: { code: 'NOT_FOUND', message: 'Not Found', details: [] } } }
        : s.url.endsWith('/cancel')
          ? { status: 405, body: { success: false, error: { code: 'METHOD_NOT_ALLOWED', message: 'Method Not Allowed', details: [] } } }
          : { status: 404, body: { success: false, error: { code: 'NOT_FOUND', message: 'Notification abc not found', details: [] } } };
    const client = createApiClient({ baseUrl: base });
    expect(isEndpointMissing(await client.listDeadLetters({ type: 'SMS', page: 1 }).catch((e: unknown) => e))).toBe(true);
    expect(seen[0]!.url).toBe('/api/dlq?type=SMS&page=1');
    expect(isEndpointMissing(await client.cancelNotification('abc').catch((e: unknown) => e))).toBe(true);
    const unknown = await client.getNotification('abc').catch((e: unknown) => e);
    expect(isEndpointMissing(unknown)).toBe(false);
    expect((unknown as ApiError).status).toBe(404);
  });

  it('reports answers that are not JSON and unreachable servers', async () => {
    answer = () => ({ status: 502, raw: '<html>bad gateway</html>' });
    const client = createApiClient({ baseUrl: base });
    const e1 = (await client.getStats().catch((e: unknown) => e)) as ApiError;
    expect(e1.status).toBe(502);
    expect(e1.code).toBe('HTTP_ERROR');
    const dead = createApiClient({ baseUrl: 'http://127.0.0.1:1' });
    const e2 = (await dead.getStats().catch((e: unknown) => e)) as ApiError;
    expect(e2).toBeInstanceOf(ApiError);
    expect(e2.code).toBe('NETWORK_ERROR');
  });

  it('reads health without an envelope and accepts an injected fetch', async () => {
    const calls: string[] = [];
    const client = createApiClient({
      fetch: async (input) => {
        calls.push(String(input));
        return new Response(JSON.stringify({ status: 'healthy', timestamp: 't', services: {}, uptime: 1 }), { status: 200 });
      },
    });
    expect((await client.health()).status).toBe('healthy');
    expect(calls).toEqual(['/api/health']);
    expect(client.eventsUrl()).toBe('/api/events');
  });
});
