import Link from 'next/link';
import { formatTime, shortId } from '@/lib/format';
import type { Notification } from '@/lib/types';
import { StatusBadge } from './StatusBadge';

export function NotificationTable({ items, caption }: { items: Notification[]; caption: string }) {
  return (
    <div className="table-wrap">
      <table className="table" data-testid="notification-table">
        <caption className="sr-only">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Id</th>
            <th scope="col">Type</th>
            <th scope="col">Recipient</th>
            <th scope="col">Status</th>
            <th scope="col">Priority</th>
            <th scope="col">Updated</th>
          </tr>
        </thead>
        <tbody>
          {items.length === 0 ? (
            <tr>
              <td colSpan={6} className="muted">
                No notifications.
              </td>
            </tr>
          ) : (
            items.map((n) => (
              <tr key={n._id} data-id={n._id}>
                <td>
                  <Link href={`/notification/?id=${n._id}`} title={n._id} className="mono">
                    {shortId(n._id)}
                  </Link>
                </td>
                <td>{n.type}</td>
                <td className="ellipsis" title={n.recipient}>
                  {n.recipient}
                </td>
                <td>
                  <StatusBadge status={n.status} />
                </td>
                <td>{n.priority}</td>
                <td>{formatTime(n.updatedAt ?? n.createdAt)}</td>
              </tr>
            ))
          )}
        </tbody>
      </table>
    </div>
  );
}
