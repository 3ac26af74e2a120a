import { describe, expect, it } from 'vitest';
import { BURST_MAX_ATTEMPTS, chunk, mixError, planBurst, retryDelayMs, splitByMix } from '@/lib/burst';
import { backlogOf, pendingWork, pushSample, ratesOf } from '@/lib/stats';
import { validateRecipient } from '@/lib/validation';

describe('stats', () => {
  it('derives rates from successive samples and clamps counter drops', () => {
    const points = ratesOf([
      { t: 0, sent: 0, failed: 0 },
      { t: 2000, sent: 100, failed: 4 },
      { t: 4000, sent: 100, failed: 4 },
      { t: 6000, sent: 10, failed: 0 },
    ]);
    expect(points).toEqual([
      { t: 2000, deliveredPerS: 50, failedPerS: 2 },
      { t: 4000, deliveredPerS: 0, failedPerS: 0 },
      { t: 6000, deliveredPerS: 0, failedPerS: 0 },
    ]);
  });

  it('keeps samples within the window', () => {
    let s = [] as { t: number; sent: number; failed: number }[];
    for (let t = 0; t <= 20_000; t += 2000) s = pushSample(s, { t, sent: t, failed: 0 }, 10_000);
    expect(s[0]!.t).toBe(10_000);
    expect(s).toHaveLength(6);
  });

  it('groups queue depths by channel and lane', () => {
    const depth = {
      'wavecom.email.high': 3,
      'wavecom.email.standard': 10,
      'wavecom.sms.standard': 4,
      'wavecom.sms.high': 0,
      'wavecom.push.high': 1,
      'wavecom.push.standard': 2,
      'wavecom.dlq': 7,
      retry: 5,
      mystery: 9,
    };
    const b = backlogOf(depth);
    expect(b.lanes).toEqual(['high', 'standard']);
    expect(b.rows.map((r) => [r.channel, r.lanes.high, r.lanes.standard, r.total])).toEqual([
      ['email', 3, 10, 13],
      ['sms', 0, 4, 4],
      ['push', 1, 2, 3],
    ]);
    expect(b.dlq).toBe(7);
    expect(b.retry).toBe(5);
    expect(b.other).toEqual({ mystery: 9 });
    expect(pendingWork(depth)).toBe(25);
  });
});

describe('burst planning', () => {
  it('splits counts by percentages exactly', () => {
    expect(splitByMix(500, { EMAIL: 50, SMS: 30, PUSH: 20 })).toEqual({ EMAIL: 250, SMS: 150, PUSH: 100 });
    expect(splitByMix(10, { EMAIL: 33, SMS: 33, PUSH: 34 })).toEqual({ EMAIL: 3, SMS: 3, PUSH: 4 });
    const s = splitByMix(7, { EMAIL: 1, SMS: 1, PUSH: 1 });
    expect(s.EMAIL + s.SMS + s.PUSH).toBe(7);
  });

  it('checks the mix', () => {
    expect(mixError({ EMAIL: 50, SMS: 30, PUSH: 20 })).toBeUndefined();
    expect(mixError({ EMAIL: 50, SMS: 30, PUSH: 10 })).toMatch(/90/);
    expect(mixError({ EMAIL: -1, SMS: 1, PUSH: 100 })).toMatch(/0-100/);
  });

  it('plans valid, interleaved notifications', () => {
    const plan = planBurst({ count: 500, mix: { EMAIL: 60, SMS: 30, PUSH: 10 }, priority: 'MIXED', runId: 'r1' });
    expect(plan).toHaveLength(500);
    const by = (t: string) => plan.filter((p) => p.type === t).length;
    expect([by('EMAIL'), by('SMS'), by('PUSH')]).toEqual([300, 150, 50]);
    for (const p of plan) {
      expect(validateRecipient(p.type, p.recipient)).toBeUndefined();
      if (p.type === 'EMAIL') expect(p.subject).toBeTruthy();
    }
    // every batch of 100 carries about the same mix
    for (const batch of chunk(plan, 100)) {
      expect(Math.abs(batch.filter((p) => p.type === 'EMAIL').length - 60)).toBeLessThanOrEqual(1);
    }
    expect(new Set(plan.map((p) => p.priority))).toEqual(new Set(['LOW', 'MEDIUM', 'HIGH', 'CRITICAL']));
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('retries a refused batch only when nothing was stored, after at least its Retry-After', () => {
    // admission control: 503 OVERLOADED, Retry-After 1 s
    expect(retryDelayMs({ status: 503, retryAfterMs: 1000 }, 1)).toBe(1000);
    expect(retryDelayMs({ status: 503, retryAfterMs: 1000 }, 3)).toBe(1500);
    expect(retryDelayMs({ status: 429, retryAfterMs: 4000 }, 2)).toBe(4000);
    expect(retryDelayMs({ status: 0 }, 1)).toBe(500);
    expect(retryDelayMs({ status: 503, retryAfterMs: 1000 }, BURST_MAX_ATTEMPTS)).toBeNull();
    for (const status of [400, 401, 403, 409, 500]) expect(retryDelayMs({ status, retryAfterMs: 1000 }, 1)).toBeNull();
  });
});
