/** Planning a burst of test notifications (pure; unit-tested). */
import { CHANNELS, PRIORITIES, type Channel, type NotificationCreate, type Priority } from './types';

export type ChannelMix = Record<Channel, number>;
export type BurstPriority = Priority | 'MIXED';

export interface BurstPlan {
  count: number;
  mix: ChannelMix;
  priority: BurstPriority;
  /** tags metadata.burstId so a run can be told apart */
  runId: string;
}

/** Splits `count` by percentages (largest remainder), e.g. 500 at 60/30/10 -> 300/150/50. */
export function splitByMix(count: number, mix: ChannelMix): Record<Channel, number> {
  const total = CHANNELS.reduce((s, c) => s + Math.max(0, mix[c] || 0), 0);
  const out = { EMAIL: 0, SMS: 0, PUSH: 0 } as Record<Channel, number>;
  if (count <= 0 || total <= 0) return out;
  const exact = CHANNELS.map((c) => ({ c, v: (count * Math.max(0, mix[c] || 0)) / total }));
  let given = 0;
  for (const { c, v } of exact) {
    out[c] = Math.floor(v);
    given += out[c];
  }
  const byRemainder = [...exact].sort((a, b) => b.v - Math.floor(b.v) - (a.v - Math.floor(a.v)));
  for (let i = 0; given < count; i += 1, given += 1) out[byRemainder[i % byRemainder.length]!.c] += 1;
  return out;
}

export function mixError(mix: ChannelMix): string | undefined {
  const values = CHANNELS.map((c) => mix[c]);
  if (values.some((v) => !Number.isFinite(v) || v < 0 || v > 100)) return 'each share must be 0-100 %';
  const sum = values.reduce((s, v) => s + v, 0);
  if (Math.round(sum) !== 100) return `shares add up to ${sum} %, not 100 %`;
  return undefined;
}

function recipient(channel: Channel, i: number, runId: string): string {
  switch (channel) {
    case 'EMAIL':
      return `burst-${runId}-${i}@example.com`;
    case 'SMS':
      return `+23480${String(10_000_000 + (i % 90_000_000)).padStart(8, '0')}`;
    case 'PUSH':
      return `burst-${runId}-token-${String(i).padStart(8, '0')}`;
  }
}

/** The notifications of a burst, channels interleaved so every batch carries the mix. */
export function planBurst(plan: BurstPlan): NotificationCreate[] {
  const counts = splitByMix(plan.count, plan.mix);
  const left = { ...counts };
  const out: NotificationCreate[] = [];
  for (let i = 0; out.length < plan.count; i += 1) {
    // Pick the channel that is furthest behind its share so far.
    let pick: Channel | undefined;
    let best = -Infinity;
    for (const c of CHANNELS) {
      if (left[c] <= 0) continue;
      const behind = (counts[c] * (out.length + 1)) / plan.count - (counts[c] - left[c]);
      if (behind > best) {
        best = behind;
        pick = c;
      }
    }
    if (!pick) break;
    left[pick] -= 1;
    const priority: Priority = plan.priority === 'MIXED' ? PRIORITIES[i % PRIORITIES.length]! : plan.priority;
    const item: NotificationCreate = {
      type: pick,
      recipient: recipient(pick, i, plan.runId),
      message: `Burst ${plan.runId} message ${i + 1} of ${plan.count}`,
      priority,
      metadata: { burstId: plan.runId, index: i },
    };
    if (pick === 'EMAIL') item.subject = `Burst ${plan.runId} #${i + 1}`;
    out.push(item);
  }
  return out;
}

export function chunk<T>(items: T[], size: number): T[][] {
  const n = Math.max(1, Math.floor(size));
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += n) out.push(items.slice(i, i + n));
  return out;
}

/** Answers that stored nothing and may succeed later: unreachable (0), rate limited, overloaded. */
const TRANSIENT = new Set([0, 429, 502, 503, 504]);
export const BURST_MAX_ATTEMPTS = 8;

/**
 * How long to wait before sending a refused batch again, or null to give up: only transient
 * answers, at most `BURST_MAX_ATTEMPTS` tries, at least the API's Retry-After (admission control
 * answers 503 OVERLOADED with one when a busy process cannot take the batch in time) and at
 * least a growing 500 ms step.
 */
export function retryDelayMs(answer: { status: number; retryAfterMs?: number | null }, attempt: number): number | null {
  if (!TRANSIENT.has(answer.status) || attempt >= BURST_MAX_ATTEMPTS) return null;
  return Math.max(500 * attempt, answer.retryAfterMs ?? 0);
}
