import { formatNumber } from '@/lib/format';

export function ProgressBar({ label, value, max, testId }: { label: string; value: number; max: number; testId?: string }) {
  const pct = max > 0 ? Math.min(100, (100 * value) / max) : 0;
  return (
    <div className="progress">
      <div className="progress-label">
        <span>{label}</span>
        <span>
          <strong data-testid={testId}>{formatNumber(value)}</strong> / {formatNumber(max)}
        </span>
      </div>
      <div className="progress-track" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={max} aria-valuenow={value}>
        <div className="progress-fill" style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}
