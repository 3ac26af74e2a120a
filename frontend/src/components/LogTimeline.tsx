import { formatTime } from '@/lib/format';
import type { LogEntry } from '@/lib/types';
import { StatusBadge } from './StatusBadge';

export function LogTimeline({ logs }: { logs: LogEntry[] }) {
  if (logs.length === 0) return <p className="muted">No log entries yet.</p>;
  return (
    <ol className="timeline" data-testid="timeline">
      {logs.map((l) => (
        <li key={l._id}>
          <time dateTime={l.timestamp}>{formatTime(l.timestamp)}</time>
          <StatusBadge status={l.status} />
          <span className="timeline-message">{l.message}</span>
          {l.metadata && Object.keys(l.metadata).length > 0 ? (
            <code className="timeline-meta">{JSON.stringify(l.metadata)}</code>
          ) : null}
        </li>
      ))}
    </ol>
  );
}
