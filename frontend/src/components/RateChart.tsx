import { formatClock, formatNumber } from '@/lib/format';
import type { RatePoint } from '@/lib/stats';

const W = 600;
const H = 180;
const PAD = { left: 44, right: 10, top: 10, bottom: 24 };

function niceMax(v: number): number {
  if (v <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  const m = v / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/** Delivered/s and failed/s over the window, as a hand-drawn SVG line chart. */
export function RateChart({
  points,
  windowMs,
  since,
  now,
}: {
  points: RatePoint[];
  /** the longest span shown */
  windowMs: number;
  /** time of the first sample: the axis starts there (at least a minute back) until the window is full */
  since: number | null;
  /** null until the first sample: the pre-rendered HTML must not depend on a clock */
  now: number | null;
}) {
  const end = now ?? 0;
  const span = Math.min(windowMs, Math.max(60_000, since !== null ? end - since : windowMs));
  const from = end - span;
  const max = niceMax(Math.max(0, ...points.map((p) => Math.max(p.deliveredPerS, p.failedPerS))));
  const x = (t: number) => PAD.left + ((t - from) / span) * (W - PAD.left - PAD.right);
  const y = (v: number) => H - PAD.bottom - (v / max) * (H - PAD.top - PAD.bottom);
  const line = (pick: (p: RatePoint) => number) =>
    points
      .filter((p) => p.t >= from)
      .map((p) => `${x(p.t).toFixed(1)},${y(pick(p)).toFixed(1)}`)
      .join(' ');
  const last = points[points.length - 1];
  const ticks = [0, max / 2, max];
  return (
    <section aria-labelledby="rate-title" className="card">
      <h2 id="rate-title">Throughput (up to the last {Math.round(windowMs / 60_000)} minutes)</h2>
      <p className="legend">
        <span className="key key-delivered" aria-hidden="true" /> Delivered{' '}
        <strong data-testid="rate-delivered">{last ? formatNumber(last.deliveredPerS, 1) : '—'}</strong>/s
        <span className="key key-failed" aria-hidden="true" /> Failed{' '}
        <strong data-testid="rate-failed">{last ? formatNumber(last.failedPerS, 1) : '—'}</strong>/s
      </p>
      <svg viewBox={`0 0 ${W} ${H}`} className="chart" role="img" aria-labelledby="rate-svg-title">
        <title id="rate-svg-title">
          Delivered and failed notifications per second, sampled every 2 seconds
        </title>
        {ticks.map((v) => (
          <g key={v}>
            <line x1={PAD.left} x2={W - PAD.right} y1={y(v)} y2={y(v)} className="grid" />
            <text x={PAD.left - 6} y={y(v) + 4} textAnchor="end" className="axis">
              {formatNumber(v, v < 10 && v % 1 ? 1 : 0)}
            </text>
          </g>
        ))}
        {now !== null ? (
          <>
            <text x={PAD.left} y={H - 6} className="axis">
              {formatClock(from)}
            </text>
            <text x={W - PAD.right} y={H - 6} textAnchor="end" className="axis">
              {formatClock(end)}
            </text>
          </>
        ) : null}
        {points.length > 1 ? (
          <>
            <polyline points={line((p) => p.deliveredPerS)} className="series series-delivered" />
            <polyline points={line((p) => p.failedPerS)} className="series series-failed" />
          </>
        ) : (
          <text x={W / 2} y={H / 2} textAnchor="middle" className="axis">
            Collecting samples…
          </text>
        )}
      </svg>
    </section>
  );
}
