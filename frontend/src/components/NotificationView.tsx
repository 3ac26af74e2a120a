'use client';
import Link from 'next/link';
import { useSearchParams } from 'next/navigation';
import { useCallback, useEffect, useState } from 'react';
import { useLiveFeed } from '@/hooks/useLiveFeed';
import { usePolling } from '@/hooks/usePolling';
import { useRefetch } from '@/hooks/useRefetch';
import { useScope } from '@/hooks/useSession';
import { api, ApiError, errorMessage, isEndpointMissing } from '@/lib/api';
import { formatNumber, formatTime } from '@/lib/format';
import { type Callback, EXPIRED_WHERE, isFinal, type NotificationEvent, type NotificationWithLogs } from '@/lib/types';
import { CallbackList } from './CallbackList';
import { DetailList } from './DetailList';
import { ErrorBanner } from './ErrorBanner';
import { LogTimeline } from './LogTimeline';
import { NoticeBanner } from './NoticeBanner';
import { ScopeNotice } from './ScopeNotice';
import { StatusBadge } from './StatusBadge';

export function NotificationView() {
  const id = useSearchParams()?.get('id')?.trim() ?? '';
  const [data, setData] = useState<NotificationWithLogs | null>(null);
  const [callbacks, setCallbacks] = useState<Callback[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [gone, setGone] = useState(false);
  const [action, setAction] = useState<{ kind: 'info' | 'success' | 'warning'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const canSend = useScope('send');
  const canAdmin = useScope('admin');

  useEffect(() => {
    setData(null);
    setCallbacks(null);
    setError(null);
    setGone(false);
    setAction(null);
  }, [id]);

  const load = useCallback(
    async (signal?: AbortSignal) => {
      if (!id) return;
      try {
        const d = await api.getNotification(id, { signal });
        setData(d);
        setError(null);
        // its callbacks: an API without them (older) shows none rather than an error
        setCallbacks(await api.listNotificationCallbacks(id, { signal }).catch(() => null));
      } catch (err) {
        if (signal?.aborted) return;
        if (err instanceof ApiError && (err.status === 404 || err.code === 'INVALID_ID')) setGone(true);
        setError(errorMessage(err));
      }
    },
    [id],
  );

  // final for delivery; a provider's receipt may still move SENT on: the live stream (below)
  // reloads the page when it does
  const final = isFinal(data?.notification.status);
  // An update of this notification (or a resync): reload it, logs included.
  const refetch = useRefetch(load, 200);
  const onEvents = useCallback(
    (events: NotificationEvent[]) => {
      if (events.some((e) => e._id === id)) refetch();
    },
    [id, refetch],
  );
  const mode = useLiveFeed(onEvents, refetch);
  // Poll every 2 s until final (slowly as a safety net while the stream is up).
  usePolling(load, mode === 'sse' ? 15_000 : 2_000, Boolean(id) && !final && !gone, id);
  // Load once more when it became final, for the complete logs.
  useEffect(() => {
    if (final) void load();
  }, [final, load]);

  const run = async (kind: 'retry' | 'cancel') => {
    setBusy(true);
    setAction(null);
    try {
      if (kind === 'retry') await api.retryNotification(id);
      else await api.cancelNotification(id);
      setAction({ kind: 'success', text: kind === 'retry' ? 'Queued again for delivery.' : 'Cancelled.' });
      await load();
    } catch (err) {
      setAction(
        isEndpointMissing(err)
          ? { kind: 'warning', text: `${kind === 'retry' ? 'Retry' : 'Cancel'} is not available on this API yet.` }
          : { kind: 'warning', text: errorMessage(err) },
      );
    } finally {
      setBusy(false);
    }
  };

  if (!id) {
    return (
      <div className="stack">
        <h1>Notification</h1>
        <NoticeBanner kind="warning">
          No id given. Open a notification from the <Link href="/notifications/">list</Link>.
        </NoticeBanner>
      </div>
    );
  }

  const n = data?.notification;
  return (
    <div className="stack">
      <h1>
        Notification <span className="mono small">{id}</span>
      </h1>
      <ErrorBanner error={error} />
      {!n ? (
        !error ? <p className="muted">Loading…</p> : null
      ) : (
        <>
          <section className="card" aria-labelledby="status-title">
            <div className="card-head">
              <h2 id="status-title">
                Status <span data-testid="detail-status" data-status={n.status}><StatusBadge status={n.status} /></span>
              </h2>
              <span className="muted" data-testid="live-state">
                {final ? 'Final status' : mode === 'sse' ? 'Updating live' : 'Updating every 2 s'}
              </span>
            </div>
            {action ? <NoticeBanner kind={action.kind}>{action.text}</NoticeBanner> : null}
            <DetailList
              rows={[
                ['Channel', n.type],
                ['Priority', n.priority],
                ['Recipient', <span className="break">{n.recipient}</span>],
                ['Attempts (retries used / allowed)', `${n.retryCount ?? 0} / ${n.maxRetries ?? '—'}`, 'detail-attempts'],
                ['Provider', n.provider, 'detail-provider'],
                ['Provider message id', n.providerMessageId ? <span className="mono break">{n.providerMessageId}</span> : null, 'detail-provider-id'],
                [
                  'Provider receipt',
                  n.receipt ? `${n.receipt.status} at ${formatTime(n.receipt.at)}${n.receipt.code ? `, code ${n.receipt.code}` : ''}` : null,
                  'detail-receipt',
                ],
                ['Processing time', n.processingTimeMs !== undefined ? `${formatNumber(n.processingTimeMs)} ms` : null],
                ['Error', n.error ? <span className="error-text">{n.error}</span> : null, 'detail-error'],
                ['Created', formatTime(n.createdAt)],
                ['Updated', formatTime(n.updatedAt)],
                ['Scheduled for', n.scheduledAt ? formatTime(n.scheduledAt) : null],
                ['Valid until', n.expiresAt ? formatTime(n.expiresAt) : null, 'detail-expires'],
                [
                  'Expired',
                  n.expiredAt
                    ? `${formatTime(n.expiredAt)}, ${EXPIRED_WHERE[n.expiredWhere ?? ''] ?? n.expiredWhere ?? ''} (never sent)`
                    : null,
                  'detail-expired',
                ],
                ['Next attempt', n.nextAttemptAt && !final ? formatTime(n.nextAttemptAt) : null],
                ['Sent', n.sentAt ? formatTime(n.sentAt) : null],
                ['Failed', n.failedAt ? formatTime(n.failedAt) : null],
                ['Dead letter', n.deadLetter ? `${n.deadLetter.reason} after ${n.deadLetter.attempts} attempts (${formatTime(n.deadLetter.at)})${n.deadLetter.lastError ? `: ${n.deadLetter.lastError}` : ''}` : null],
              ]}
            />
            <div className="actions">
              {n.status === 'SCHEDULED' || n.status === 'QUEUED' || n.status === 'RETRYING' ? (
                <button type="button" onClick={() => void run('cancel')} disabled={busy || !canSend}>
                  Cancel notification
                </button>
              ) : null}
              {n.status === 'FAILED' && canAdmin ? (
                <button type="button" onClick={() => void run('retry')} disabled={busy}>
                  Retry
                </button>
              ) : null}
            </div>
            {!canSend && (n.status === 'SCHEDULED' || n.status === 'QUEUED' || n.status === 'RETRYING') ? (
              <ScopeNotice scope="send" what="Cancelling" />
            ) : null}
            {!canAdmin && n.status === 'FAILED' ? <ScopeNotice scope="admin" what="Retrying a failed notification" /> : null}
          </section>
          <section className="card" aria-labelledby="content-title">
            <h2 id="content-title">Content</h2>
            <DetailList
              rows={[
                ['Subject', n.subject],
                ['Message', n.message ? <span className="pre">{n.message}</span> : null],
                ['Metadata', n.metadata && Object.keys(n.metadata).length ? <code className="pre">{JSON.stringify(n.metadata, null, 2)}</code> : null],
              ]}
            />
          </section>
          <section className="card" aria-labelledby="logs-title">
            <h2 id="logs-title">Timeline</h2>
            <LogTimeline logs={data.logs} />
          </section>
          {callbacks ? (
            <section className="card" aria-labelledby="callbacks-title">
              <h2 id="callbacks-title">Status callbacks</h2>
              <CallbackList callbacks={callbacks} />
            </section>
          ) : null}
        </>
      )}
    </div>
  );
}
