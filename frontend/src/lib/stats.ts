/** Pure helpers that turn stats samples into what the Overview shows. */
import type { SystemStats } from './types';

export interface StatsSample {
  /** ms since the epoch (client clock) */
  t: number;
  sent: number;
  failed: number;
}

export interface RatePoint {
  /** end of the interval, ms since the epoch */
  t: number;
  deliveredPerS: number;
  failedPerS: number;
}

export function sampleOf(stats: SystemStats, t: number): StatsSample {
  return { t, sent: stats.byStatus.SENT ?? 0, failed: stats.byStatus.FAILED ?? 0 };
}

/** Appends a sample and drops those older than `windowMs` before the newest. */
export function pushSample(samples: StatsSample[], sample: StatsSample, windowMs: number): StatsSample[] {
  const next = [...samples, sample];
  const from = sample.t - windowMs;
  let i = 0;
  while (i < next.length - 1 && next[i]!.t < from) i += 1;
  return i === 0 ? next : next.slice(i);
}

/** Rates between successive samples; counter drops (a wiped database) count as 0. */
export function ratesOf(samples: StatsSample[]): RatePoint[] {
  const points: RatePoint[] = [];
  for (let i = 1; i < samples.length; i += 1) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    const dt = (b.t - a.t) / 1000;
    if (dt <= 0) continue;
    points.push({
      t: b.t,
      deliveredPerS: Math.max(0, b.sent - a.sent) / dt,
      failedPerS: Math.max(0, b.failed - a.failed) / dt,
    });
  }
  return points;
}

export interface BacklogRow {
  channel: string;
  lanes: Record<string, number>;
  total: number;
}

export interface Backlog {
  rows: BacklogRow[];
  lanes: string[];
  dlq: number | undefined;
  retry: number | undefined;
  /** queues that fit no known pattern, shown as they are */
  other: Record<string, number>;
  total: number;
}

const LANE_ORDER = ['high', 'standard'];
const CHANNEL_ORDER = ['email', 'sms', 'push'];

/** Groups queueDepth keys like "wavecom.email.high", "wavecom.dlq" and "retry". */
export function backlogOf(queueDepth: Record<string, number>): Backlog {
  const byChannel = new Map<string, Record<string, number>>();
  const lanes = new Set<string>();
  const other: Record<string, number> = {};
  let dlq: number | undefined;
  let retry: number | undefined;
  let total = 0;
  for (const [key, raw] of Object.entries(queueDepth)) {
    const depth = Number.isFinite(raw) ? raw : 0;
    total += depth;
    const lane = /^wavecom\.([a-z0-9_-]+)\.([a-z0-9_-]+)$/i.exec(key);
    if (key === 'wavecom.dlq' || key === 'dlq') dlq = depth;
    else if (key === 'retry') retry = depth;
    else if (lane && lane[1] !== 'delay') {
      const channel = lane[1]!.toLowerCase();
      const name = lane[2]!.toLowerCase();
      lanes.add(name);
      const row = byChannel.get(channel) ?? {};
      row[name] = (row[name] ?? 0) + depth;
      byChannel.set(channel, row);
    } else other[key] = depth;
  }
  const rank = (order: string[], x: string) => (order.includes(x) ? order.indexOf(x) : order.length);
  const laneList = [...lanes].sort((a, b) => rank(LANE_ORDER, a) - rank(LANE_ORDER, b) || a.localeCompare(b));
  const rows = [...byChannel.entries()]
    .sort(([a], [b]) => rank(CHANNEL_ORDER, a) - rank(CHANNEL_ORDER, b) || a.localeCompare(b))
    .map(([channel, l]) => ({
      channel,
      lanes: l,
      total: Object.values(l).reduce((s, n) => s + n, 0),
    }));
  return { rows, lanes: laneList, dlq, retry, other, total };
}

/** Messages waiting to be worked on (lanes + retry), not counting dead letters. */
export function pendingWork(queueDepth: Record<string, number>): number {
  const b = backlogOf(queueDepth);
  return b.rows.reduce((s, r) => s + r.total, 0) + (b.retry ?? 0);
}
