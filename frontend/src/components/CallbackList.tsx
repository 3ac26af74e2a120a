import { attemptAnswer, callbackSummary } from '@/lib/callbacks';
import { formatTime } from '@/lib/format';
import type { Callback } from '@/lib/types';

/** A notification's status callbacks to the tenant's endpoints, each with its attempts. */
export function CallbackList({ callbacks }: { callbacks: Callback[] }) {
  if (callbacks.length === 0) {
    return <p className="muted">No callbacks: the tenant has no endpoint subscribed to these changes.</p>;
  }
  return (
    <ol className="timeline" data-testid="callbacks">
      {callbacks.map((c) => (
        <li key={c.id} data-state={c.state}>
          <span className="mono small">#{c.sequence}</span> <strong>{c.type}</strong>{' '}
          <span className="muted small">
            to {c.endpointId} · webhook-id <span className="mono">{c.webhookId}</span>
          </span>
          <div>{callbackSummary(c)}</div>
          {c.state === 'pending' && c.nextAttemptAt ? (
            <div className="muted small">Next attempt {formatTime(c.nextAttemptAt)}</div>
          ) : null}
          {c.attempts.length > 0 ? (
            <ul className="small">
              {c.attempts.map((a, i) => (
                <li key={`${c.id}-${i}`}>
                  <time dateTime={a.at}>{formatTime(a.at)}</time> {attemptAnswer(a)} in {a.durationMs} ms ({a.outcome})
                </li>
              ))}
            </ul>
          ) : null}
        </li>
      ))}
    </ol>
  );
}
