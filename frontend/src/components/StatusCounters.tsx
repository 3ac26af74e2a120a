import { formatNumber } from '@/lib/format';
import { STATUSES, type SystemStats } from '@/lib/types';

export function StatusCounters({ stats }: { stats: SystemStats | null }) {
  return (
    <section aria-labelledby="counters-title" className="card">
      <h2 id="counters-title">Notifications by status</h2>
      <dl className="counters">
        <div className="counter counter-total">
          <dt>Total</dt>
          <dd data-testid="count-total">{formatNumber(stats?.total)}</dd>
        </div>
        {STATUSES.map((s) => (
          <div key={s} className={`counter counter-${s.toLowerCase()}`}>
            <dt>{s}</dt>
            <dd data-testid={`count-${s}`}>{formatNumber(stats ? (stats.byStatus[s] ?? 0) : undefined)}</dd>
          </div>
        ))}
        <div className="counter">
          <dt>Success rate</dt>
          <dd data-testid="success-rate">{stats ? `${formatNumber(stats.successRate, 1)} %` : '—'}</dd>
        </div>
        <div className="counter">
          <dt>Avg. processing</dt>
          <dd>{stats ? `${formatNumber(stats.averageProcessingTime, 0)} ms` : '—'}</dd>
        </div>
      </dl>
    </section>
  );
}
