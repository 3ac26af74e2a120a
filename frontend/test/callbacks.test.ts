import { describe, expect, it } from 'vitest';
import { attemptAnswer, callbackSummary } from '@/lib/callbacks';
import type { Callback, CallbackAttempt } from '@/lib/types';

const attempt = (status: number | null, outcome: CallbackAttempt['outcome'], error: string | null = null): CallbackAttempt => ({
  at: '2026-12-06T12:00:00.000Z',
  status,
  error,
  durationMs: 12,
  outcome,
});

const callback = (over: Partial<Callback>): Callback => ({
  id: 'cb_0123456789abcdef:msg_1',
  endpointId: 'cb_0123456789abcdef',
  webhookId: 'msg_1',
  notificationId: '6b1568ca0b98b7ea339c6c9b',
  type: 'notification.sent',
  status: 'SENT',
  sequence: 1,
  state: 'pending',
  createdAt: '2026-12-06T12:00:00.000Z',
  nextAttemptAt: null,
  deliveredAt: null,
  parkedAt: null,
  parkedReason: null,
  attempts: [],
  ...over,
});

describe('callbacks', () => {
  it('summarises each state with its attempts', () => {
    expect(callbackSummary(callback({}))).toBe('Queued');
    expect(callbackSummary(callback({ attempts: [attempt(503, 'retry')] }))).toBe('Retrying after 1 attempt');
    expect(callbackSummary(callback({ state: 'delivered', attempts: [attempt(503, 'retry'), attempt(204, 'delivered')] }))).toBe(
      'Delivered after 2 attempts',
    );
    expect(callbackSummary(callback({ state: 'parked', parkedReason: 'HTTP 401', attempts: [attempt(401, 'parked')] }))).toBe(
      'Parked (dead letter) after 1 attempt: HTTP 401',
    );
  });

  it('says what an attempt got back, or why nothing came back', () => {
    expect(attemptAnswer(attempt(429, 'retry'))).toBe('HTTP 429');
    expect(attemptAnswer(attempt(null, 'retry', 'no answer within 10s'))).toBe('no answer within 10s');
  });
});
