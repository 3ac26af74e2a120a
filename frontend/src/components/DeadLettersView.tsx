'use client';
import { usePathname, useRouter, useSearchParams } from 'next/navigation';
import { useCallback, useState } from 'react';
import { usePolling } from '@/hooks/usePolling';
import { api, errorMessage, isEndpointMissing } from '@/lib/api';
import { CHANNELS, DEAD_LETTER_REASONS, type Channel, type Notification, type Pagination, type ReplayRequest } from '@/lib/types';
import { DeadLetterTable } from './DeadLetterTable';
import { ErrorBanner } from './ErrorBanner';
import { NoticeBanner } from './NoticeBanner';
import { Pager } from './Pager';
import { SelectField } from './SelectField';

const LIMIT = 20;

export function DeadLettersView() {
  const params = useSearchParams();
  const router = useRouter();
  const pathname = usePathname() ?? '/dead-letters/';
  const typeParam = params?.get('type') ?? '';
  const type = (CHANNELS as readonly string[]).includes(typeParam) ? (typeParam as Channel) : '';
  const reasonParam = params?.get('reason')?.trim() ?? '';
  const reason = (DEAD_LETTER_REASONS as readonly string[]).includes(reasonParam) ? reasonParam : '';
  const pageNum = Number(params?.get('page'));
  const page = Number.isInteger(pageNum) && pageNum >= 1 ? pageNum : 1;
  const key = JSON.stringify({ type, reason, page });

  const [items, setItems] = useState<Notification[]>([]);
  const [pagination, setPagination] = useState<Pagination | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [unavailable, setUnavailable] = useState(false);
  const [loaded, setLoaded] = useState(false);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [confirmAll, setConfirmAll] = useState(false);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<{ kind: 'success' | 'warning'; text: string } | null>(null);

  const navigate = (changes: { type?: string; reason?: string; page?: number }) => {
    const next = { type, reason, page, ...changes };
    const qs = new URLSearchParams();
    if (next.type) qs.set('type', next.type);
    if (next.reason) qs.set('reason', next.reason);
    if (next.page > 1) qs.set('page', String(next.page));
    const s = qs.toString();
    setSelected(new Set());
    setConfirmAll(false);
    router.push(s ? `${pathname}?${s}` : pathname);
  };

  const load = useCallback(
    async (signal?: AbortSignal) => {
      const q = JSON.parse(key) as { type: Channel | ''; reason: string; page: number };
      try {
        const result = await api.listDeadLetters({ ...q, limit: LIMIT }, { signal });
        setItems(result.notifications);
        setPagination(result.pagination);
        setSelected((s) => new Set([...s].filter((id) => result.notifications.some((n) => n._id === id))));
        setError(null);
        setUnavailable(false);
      } catch (err) {
        if (signal?.aborted) return;
        if (isEndpointMissing(err)) setUnavailable(true);
        else setError(errorMessage(err));
      } finally {
        if (!signal?.aborted) setLoaded(true);
      }
    },
    [key],
  );
  usePolling(load, 5_000, !unavailable, key);

  const act = async (what: () => Promise<string>) => {
    setBusy(true);
    setNotice(null);
    try {
      setNotice({ kind: 'success', text: await what() });
      setSelected(new Set());
      await load();
    } catch (err) {
      setNotice({
        kind: 'warning',
        text: isEndpointMissing(err) ? 'This action is not available on this API yet.' : errorMessage(err),
      });
    } finally {
      setBusy(false);
      setConfirmAll(false);
    }
  };

  const replay = (body: ReplayRequest) =>
    act(async () => {
      const r = await api.replayDeadLetters(body);
      return `Replayed ${r.replayed} notification${r.replayed === 1 ? '' : 's'}.`;
    });

  const retry = (id: string) =>
    act(async () => {
      await api.retryNotification(id);
      return `Notification ${id} queued again.`;
    });

  const filterText = [type && `channel ${type}`, reason && `reason “${reason}”`].filter(Boolean).join(', ') || 'all dead letters';

  return (
    <div className="stack">
      <h1>Dead letters</h1>
      {unavailable ? (
        <div data-testid="dlq-unavailable">
          <NoticeBanner kind="warning">
            Dead letters are not available on this API yet (GET /api/dlq answered 404). This page will work once
            the API offers the dead-letter endpoints.
          </NoticeBanner>
        </div>
      ) : (
        <>
          <form className="card filters" aria-label="Filters" onSubmit={(e) => e.preventDefault()}>
            <SelectField id="dlq-type" label="Channel" value={type} options={CHANNELS} onChange={(v) => navigate({ type: v, page: 1 })} />
            <SelectField id="dlq-reason" label="Reason" value={reason} options={DEAD_LETTER_REASONS} onChange={(v) => navigate({ reason: v, page: 1 })} />
          </form>
          <ErrorBanner error={error} />
          {notice ? (
            <div data-testid="dlq-result">
              <NoticeBanner kind={notice.kind}>{notice.text}</NoticeBanner>
            </div>
          ) : null}
          <section className="card" aria-label="Dead letters">
            <div className="actions">
              <button type="button" className="primary" disabled={busy || selected.size === 0} onClick={() => void replay({ ids: [...selected] })}>
                Replay selected ({selected.size})
              </button>
              {confirmAll ? (
                <>
                  <button type="button" className="danger" disabled={busy} onClick={() => void replay({ type: type || undefined, reason: reason || undefined })}>
                    Confirm: replay {filterText}
                  </button>
                  <button type="button" onClick={() => setConfirmAll(false)} disabled={busy}>
                    Keep them
                  </button>
                </>
              ) : (
                <button type="button" disabled={busy || !loaded || (pagination?.totalItems ?? 0) === 0} onClick={() => setConfirmAll(true)}>
                  Replay all matching…
                </button>
              )}
            </div>
            <DeadLetterTable
              items={items}
              selected={selected}
              busy={busy}
              onToggle={(id) =>
                setSelected((s) => {
                  const next = new Set(s);
                  if (next.has(id)) next.delete(id);
                  else next.add(id);
                  return next;
                })
              }
              onToggleAll={(all) => setSelected(all ? new Set(items.map((n) => n._id)) : new Set())}
              onRetry={(id) => void retry(id)}
            />
            <Pager pagination={pagination} onPage={(p) => navigate({ page: p })} />
          </section>
        </>
      )}
    </div>
  );
}
