'use client';
import Link from 'next/link';
import { useCallback, useRef, useState } from 'react';
import { useLiveFeed } from '@/hooks/useLiveFeed';
import { usePolling } from '@/hooks/usePolling';
import { useRefetch } from '@/hooks/useRefetch';
import { api, errorMessage } from '@/lib/api';
import { applyEvents } from '@/lib/live';
import { pushSample, ratesOf, sampleOf, type StatsSample } from '@/lib/stats';
import type { Notification, NotificationEvent, SystemStats } from '@/lib/types';
import { AccountWarnings } from './AccountWarnings';
import { BacklogTable } from './BacklogTable';
import { ErrorBanner } from './ErrorBanner';
import { NotificationTable } from './NotificationTable';
import { ProviderBreakers } from './ProviderBreakers';
import { RateChart } from './RateChart';
import { StatusCounters } from './StatusCounters';

const SAMPLE_MS = 2_000;
const WINDOW_MS = 5 * 60_000;

export function OverviewView() {
  const [stats, setStats] = useState<SystemStats | null>(null);
  const [samples, setSamples] = useState<StatsSample[]>([]);
  const [statsError, setStatsError] = useState<string | null>(null);
  const [recent, setRecent] = useState<Notification[]>([]);
  const [recentError, setRecentError] = useState<string | null>(null);
  const recentRef = useRef<Notification[]>([]);

  const loadStats = useCallback(async (signal?: AbortSignal) => {
    try {
      const s = await api.getStats({ signal });
      setStats(s);
      setSamples((prev) => pushSample(prev, sampleOf(s, Date.now()), WINDOW_MS));
      setStatsError(null);
    } catch (err) {
      if (!signal?.aborted) setStatsError(errorMessage(err));
    }
  }, []);
  usePolling(loadStats, SAMPLE_MS);

  const loadRecent = useCallback(async (signal?: AbortSignal) => {
    try {
      const page = await api.listNotifications({ limit: 10 }, { signal });
      recentRef.current = page.notifications;
      setRecent(page.notifications);
      setRecentError(null);
    } catch (err) {
      if (!signal?.aborted) setRecentError(errorMessage(err));
    }
  }, []);

  // New notifications are not in the list yet: refetch, at most once a second.
  const refetchRecent = useRefetch(loadRecent, 1_000);
  // The server dropped updates: refetch everything shown, at most once a second.
  const refetchAll = useRefetch(() => Promise.all([loadStats(), loadRecent()]), 1_000);
  const onEvents = useCallback(
    (events: NotificationEvent[]) => {
      const r = applyEvents(recentRef.current, events);
      if (r.changed) {
        recentRef.current = r.items;
        setRecent(r.items);
      }
      if (r.unknown) refetchRecent();
    },
    [refetchRecent],
  );
  const mode = useLiveFeed(onEvents, refetchAll);
  // With the stream, load once and then follow events; without it, poll.
  usePolling(loadRecent, mode === 'sse' ? 30_000 : 2_000);

  const last = samples[samples.length - 1];
  return (
    <div className="stack">
      <h1>Overview</h1>
      <AccountWarnings />
      <ErrorBanner error={statsError} title="Statistics" />
      <StatusCounters stats={stats} />
      <div className="grid-2">
        <RateChart points={ratesOf(samples)} windowMs={WINDOW_MS} since={samples[0]?.t ?? null} now={last?.t ?? null} />
        <BacklogTable queueDepth={stats?.queueDepth} />
      </div>
      <ProviderBreakers providers={stats?.providers} />
      <section aria-labelledby="recent-title" className="card">
        <div className="card-head">
          <h2 id="recent-title">Newest notifications</h2>
          <Link href="/notifications/">All notifications →</Link>
        </div>
        <ErrorBanner error={recentError} />
        <NotificationTable items={recent} caption="The ten newest notifications" />
      </section>
    </div>
  );
}
