'use client';
import { usePathname, useRouter, useSearchParams } from 'next/navigation';
import { useCallback, useRef, useState } from 'react';
import { useLiveFeed } from '@/hooks/useLiveFeed';
import { usePolling } from '@/hooks/usePolling';
import { useRefetch } from '@/hooks/useRefetch';
import { api, errorMessage } from '@/lib/api';
import { applyEvents } from '@/lib/live';
import { CHANNELS, PRIORITIES, STATUSES, type ListQuery, type Notification, type NotificationEvent, type Pagination } from '@/lib/types';
import { ErrorBanner } from './ErrorBanner';
import { NotificationTable } from './NotificationTable';
import { Pager } from './Pager';
import { SelectField } from './SelectField';

function pick<T extends string>(value: string | null | undefined, allowed: readonly T[]): T | '' {
  return value && (allowed as readonly string[]).includes(value) ? (value as T) : '';
}

function positive(value: string | null | undefined, fallback: number, max: number): number {
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 ? Math.min(n, max) : fallback;
}

export function NotificationsView() {
  const params = useSearchParams();
  const router = useRouter();
  const pathname = usePathname() ?? '/notifications/';
  const query: Required<ListQuery> = {
    status: pick(params?.get('status'), STATUSES),
    type: pick(params?.get('type'), CHANNELS),
    priority: pick(params?.get('priority'), PRIORITIES),
    page: positive(params?.get('page'), 1, 100_000),
    limit: positive(params?.get('limit'), 20, 100),
  };
  const key = JSON.stringify(query);

  const [items, setItems] = useState<Notification[]>([]);
  const [pagination, setPagination] = useState<Pagination | null>(null);
  const [error, setError] = useState<string | null>(null);
  const itemsRef = useRef<Notification[]>([]);

  const navigate = (changes: Partial<ListQuery>) => {
    const next = { ...query, ...changes };
    const qs = new URLSearchParams();
    if (next.status) qs.set('status', next.status);
    if (next.type) qs.set('type', next.type);
    if (next.priority) qs.set('priority', next.priority);
    if (next.page && next.page > 1) qs.set('page', String(next.page));
    if (next.limit && next.limit !== 20) qs.set('limit', String(next.limit));
    const s = qs.toString();
    router.push(s ? `${pathname}?${s}` : pathname);
  };

  const load = useCallback(
    async (signal?: AbortSignal) => {
      try {
        const page = await api.listNotifications(JSON.parse(key) as ListQuery, { signal });
        itemsRef.current = page.notifications;
        setItems(page.notifications);
        setPagination(page.pagination);
        setError(null);
      } catch (err) {
        if (!signal?.aborted) setError(errorMessage(err));
      }
    },
    [key],
  );

  // A filtered list can gain or lose rows; a resync means updates were dropped: refetch (at
  // most once a second).
  const refetch = useRefetch(load, 1_000);
  const onEvents = useCallback(
    (events: NotificationEvent[]) => {
      const r = applyEvents(itemsRef.current, events);
      if (r.changed) {
        itemsRef.current = r.items;
        setItems(r.items);
      }
      if (r.unknown || r.changed) refetch();
    },
    [refetch],
  );
  const mode = useLiveFeed(onEvents, refetch);
  usePolling(load, mode === 'sse' ? 30_000 : 2_000, true, key);

  return (
    <div className="stack">
      <h1>Notifications</h1>
      <form className="card filters" aria-label="Filters" onSubmit={(e) => e.preventDefault()}>
        <SelectField id="filter-status" label="Status" value={query.status} options={STATUSES} onChange={(v) => navigate({ status: v as ListQuery['status'], page: 1 })} />
        <SelectField id="filter-type" label="Channel" value={query.type} options={CHANNELS} onChange={(v) => navigate({ type: v as ListQuery['type'], page: 1 })} />
        <SelectField id="filter-priority" label="Priority" value={query.priority} options={PRIORITIES} onChange={(v) => navigate({ priority: v as ListQuery['priority'], page: 1 })} />
        <div className="field">
          <label htmlFor="filter-limit">Per page</label>
          <select id="filter-limit" value={query.limit} onChange={(e) => navigate({ limit: Number(e.target.value), page: 1 })}>
            {[10, 20, 50, 100].map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </div>
        <button type="button" onClick={() => navigate({ status: '', type: '', priority: '', page: 1, limit: 20 })}>
          Clear filters
        </button>
      </form>
      <ErrorBanner error={error} />
      <section className="card" aria-label="Results">
        <NotificationTable items={items} caption="Notifications matching the filters" />
        <Pager pagination={pagination} onPage={(page) => navigate({ page })} />
      </section>
    </div>
  );
}
