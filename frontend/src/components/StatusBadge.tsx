import { STATUS_MEANINGS, type Status } from '@/lib/types';

export function StatusBadge({ status }: { status: Status | string }) {
  const meaning = (STATUS_MEANINGS as Record<string, string>)[status];
  return (
    <span className={`badge badge-${status.toLowerCase()}`} title={meaning}>
      {status}
    </span>
  );
}
