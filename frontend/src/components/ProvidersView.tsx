'use client';
import { useCallback, useState } from 'react';
import { usePolling } from '@/hooks/usePolling';
import { api, errorMessage, isEndpointMissing } from '@/lib/api';
import { formatClock } from '@/lib/format';
import { providerRows, type ProviderRow } from '@/lib/providers';
import { ErrorBanner } from './ErrorBanner';
import { NoticeBanner } from './NoticeBanner';
import { ProviderTable } from './ProviderTable';

/** Breakers change within seconds: refresh often (each run starts after the last one ends). */
const REFRESH_MS = 3_000;

export function ProvidersView() {
  // Only the display rows are kept (never the accounts' settings).
  const [rows, setRows] = useState<ProviderRow[] | null>(null);
  const [revision, setRevision] = useState<number | null>(null);
  const [refreshedAt, setRefreshedAt] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [unavailable, setUnavailable] = useState(false);

  const load = useCallback(async (signal?: AbortSignal) => {
    try {
      const result = await api.listProviders({ signal });
      setRows(providerRows(result.providers));
      setRevision(typeof result.revision === 'number' ? result.revision : null);
      setRefreshedAt(Date.now());
      setError(null);
      setUnavailable(false);
    } catch (err) {
      if (signal?.aborted) return;
      if (isEndpointMissing(err)) setUnavailable(true);
      else setError(errorMessage(err));
    }
  }, []);
  usePolling(load, REFRESH_MS, !unavailable);

  return (
    <div className="stack">
      <div className="page-head">
        <h1>Providers</h1>
        {revision !== null ? (
          <p className="page-meta">
            Configuration revision <strong data-testid="providers-revision">{revision}</strong>
            {refreshedAt !== null ? <span className="small"> · refreshed {formatClock(refreshedAt)}</span> : null}
          </p>
        ) : null}
      </div>
      {unavailable ? (
        <div data-testid="providers-unavailable">
          <NoticeBanner kind="warning">
            Provider accounts are not available on this API yet (GET /api/admin/providers answered 404).
          </NoticeBanner>
        </div>
      ) : (
        <>
          <ErrorBanner error={error} title="Provider accounts" />
          <section className="card" aria-labelledby="providers-title">
            <h2 id="providers-title">Provider accounts</h2>
            {rows === null ? (
              <p className="muted">{error ? 'The provider accounts could not be loaded; retrying.' : 'Loading…'}</p>
            ) : rows.length === 0 ? (
              <p className="muted" data-testid="providers-empty">
                No provider accounts are configured: apply one with <code>admin providers apply</code> or a
                NotificationProvider resource.
              </p>
            ) : (
              <>
                <ProviderTable rows={rows} />
                <p className="hint">
                  Breaker: the worst state the live workers report for the account, and how many report it. Credentials
                  are stored sealed and never shown.
                </p>
              </>
            )}
          </section>
        </>
      )}
    </div>
  );
}
