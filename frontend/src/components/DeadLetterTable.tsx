import Link from 'next/link';
import { formatTime, shortId } from '@/lib/format';
import type { Notification } from '@/lib/types';

export function DeadLetterTable({
  items,
  selected,
  onToggle,
  onToggleAll,
  onRetry,
  busy,
}: {
  items: Notification[];
  selected: ReadonlySet<string>;
  onToggle: (id: string) => void;
  onToggleAll: (all: boolean) => void;
  onRetry: (id: string) => void;
  busy: boolean;
}) {
  const allSelected = items.length > 0 && items.every((n) => selected.has(n._id));
  return (
    <div className="table-wrap">
      <table className="table" data-testid="dlq-table">
        <caption className="sr-only">Dead-lettered notifications</caption>
        <thead>
          <tr>
            <th scope="col">
              <input
                type="checkbox"
                aria-label="Select all on this page"
                checked={allSelected}
                onChange={(e) => onToggleAll(e.target.checked)}
                disabled={items.length === 0}
              />
            </th>
            <th scope="col">Id</th>
            <th scope="col">Type</th>
            <th scope="col">Recipient</th>
            <th scope="col">Reason</th>
            <th scope="col" className="num">
              Attempts
            </th>
            <th scope="col">Last error</th>
            <th scope="col">Dead-lettered</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {items.length === 0 ? (
            <tr>
              <td colSpan={9} className="muted">
                No dead letters.
              </td>
            </tr>
          ) : (
            items.map((n) => (
              <tr key={n._id} data-id={n._id}>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`Select ${n._id}`}
                    checked={selected.has(n._id)}
                    onChange={() => onToggle(n._id)}
                  />
                </td>
                <td>
                  <Link href={`/notification/?id=${n._id}`} className="mono" title={n._id}>
                    {shortId(n._id)}
                  </Link>
                </td>
                <td>{n.type}</td>
                <td className="ellipsis" title={n.recipient}>
                  {n.recipient}
                </td>
                <td>{n.deadLetter?.reason ?? '—'}</td>
                <td className="num">{n.deadLetter?.attempts ?? n.retryCount ?? '—'}</td>
                <td className="ellipsis error-text" title={n.deadLetter?.lastError ?? n.error ?? ''}>
                  {n.deadLetter?.lastError ?? n.error ?? '—'}
                </td>
                <td>{formatTime(n.deadLetter?.at ?? n.failedAt)}</td>
                <td>
                  <button type="button" onClick={() => onRetry(n._id)} disabled={busy} aria-label={`Retry ${n._id}`}>
                    Retry
                  </button>
                </td>
              </tr>
            ))
          )}
        </tbody>
      </table>
    </div>
  );
}
