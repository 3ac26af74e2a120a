'use client';
import { useCallback, useRef, useState, type FormEvent } from 'react';
import { useLiveFeed } from '@/hooks/useLiveFeed';
import { usePolling } from '@/hooks/usePolling';
import { useScope } from '@/hooks/useSession';
import { api, ApiError, errorMessage } from '@/lib/api';
import { chunk, mixError, planBurst, retryDelayMs, type BurstPriority, type ChannelMix } from '@/lib/burst';
import { formatNumber } from '@/lib/format';
import { pendingWork } from '@/lib/stats';
import { CHANNELS, isFinal, PRIORITIES, type NotificationEvent, type SystemStats } from '@/lib/types';
import { BacklogTable } from './BacklogTable';
import { ErrorBanner } from './ErrorBanner';
import { NoticeBanner } from './NoticeBanner';
import { ProgressBar } from './ProgressBar';
import { ScopeNotice } from './ScopeNotice';

interface Run {
  id: string;
  target: number;
  startedAt: number;
  baseSent: number;
  baseFailed: number;
  batches: number;
  batchesDone: number;
  accepted: number;
  rejected: number;
  rejections: string[];
  sendingDone: boolean;
  finishedAt?: number;
  error?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function runId(): string {
  return Date.now().toString(36) + Math.random().toString(36).slice(2, 6);
}

export function BurstView() {
  const [count, setCount] = useState('500');
  const [batchSize, setBatchSize] = useState('100');
  const [mix, setMix] = useState<Record<keyof ChannelMix, string>>({ EMAIL: '50', SMS: '30', PUSH: '20' });
  const [priority, setPriority] = useState<BurstPriority>('MEDIUM');
  const [formError, setFormError] = useState<string | null>(null);
  const [run, setRun] = useState<Run | null>(null);
  const [stats, setStats] = useState<SystemStats | null>(null);
  const [statsError, setStatsError] = useState<string | null>(null);
  /** status of every notification this run created, by id (from checks and live events) */
  const tracked = useRef<Map<string, string>>(new Map());
  const cursor = useRef(0);
  const [confirmed, setConfirmed] = useState({ sent: 0, failed: 0, cancelled: 0 });
  const canSend = useScope('send');

  const sending = run !== null && !run.sendingDone;
  const delivered = run && stats ? Math.max(0, (stats.byStatus.SENT ?? 0) - run.baseSent) : 0;
  const failed = run && stats ? Math.max(0, (stats.byStatus.FAILED ?? 0) - run.baseFailed) : 0;
  const backlog = stats ? pendingWork(stats.queueDepth) : 0;
  const resolved = confirmed.sent + confirmed.failed + confirmed.cancelled;
  const complete = run !== null && run.sendingDone && run.accepted > 0 && resolved >= run.accepted;
  const watching = run !== null && !run.error && !complete;

  usePolling(
    async (signal) => {
      try {
        const s = await api.getStats({ signal });
        setStats(s);
        setStatsError(null);
      } catch (err) {
        if (!signal.aborted) setStatsError(errorMessage(err));
      }
    },
    watching ? 2_000 : 5_000,
  );

  const recount = useCallback(() => {
    const c = { sent: 0, failed: 0, cancelled: 0 };
    for (const status of tracked.current.values()) {
      if (status === 'SENT') c.sent += 1;
      else if (status === 'FAILED') c.failed += 1;
      else if (status === 'CANCELLED') c.cancelled += 1;
    }
    setConfirmed((old) => (old.sent === c.sent && old.failed === c.failed && old.cancelled === c.cancelled ? old : c));
    return c;
  }, []);

  // The run's own ids: live events update them as they come...
  const onEvents = useCallback(
    (events: NotificationEvent[]) => {
      let hit = false;
      for (const e of events) {
        if (tracked.current.has(e._id)) {
          tracked.current.set(e._id, e.status);
          hit = true;
        }
      }
      if (hit) recount();
    },
    [recount],
  );
  const mode = useLiveFeed(onEvents);

  // ...and once sending is done they are also checked one by one (a few dozen per second,
  // oldest unresolved first), so the count is exact whatever else the system is doing.
  usePolling(
    async (signal) => {
      const open = [...tracked.current.entries()].filter(([, st]) => !isFinal(st)).map(([id]) => id);
      if (open.length === 0) return;
      const start = cursor.current % open.length;
      const batch = [...open.slice(start), ...open.slice(0, start)].slice(0, mode === 'sse' ? 10 : 40);
      cursor.current = start + batch.length;
      let next = 0;
      const check = async () => {
        while (next < batch.length && !signal.aborted) {
          const id = batch[next++]!;
          try {
            const d = await api.getNotification(id, { signal });
            tracked.current.set(id, d.notification.status);
          } catch {
            // checked again on a later round
          }
        }
      };
      await Promise.all(Array.from({ length: 8 }, check));
      const c = recount();
      setRun((r) =>
        r && !r.finishedAt && r.sendingDone && c.sent + c.failed + c.cancelled >= r.accepted ? { ...r, finishedAt: Date.now() } : r,
      );
    },
    mode === 'sse' ? 5_000 : 1_000,
    run !== null && run.sendingDone && !complete,
    run?.id,
  );

  const start = async (e: FormEvent) => {
    e.preventDefault();
    if (!canSend) return;
    const n = Number(count);
    const size = Number(batchSize);
    const shares = { EMAIL: Number(mix.EMAIL), SMS: Number(mix.SMS), PUSH: Number(mix.PUSH) };
    const problems = [
      !Number.isInteger(n) || n < 1 || n > 20_000 ? 'Count must be a whole number from 1 to 20,000.' : null,
      !Number.isInteger(size) || size < 1 || size > 1000 ? 'Batch size must be a whole number from 1 to 1,000.' : null,
      mixError(shares) ? `Channel mix: ${mixError(shares)}.` : null,
    ].filter(Boolean);
    if (problems.length) {
      setFormError(problems.join(' '));
      return;
    }
    setFormError(null);
    let base: SystemStats;
    try {
      base = await api.getStats();
    } catch (err) {
      setFormError(`Cannot read the statistics before starting: ${errorMessage(err)}`);
      return;
    }
    setStats(base);
    const id = runId();
    const batches = chunk(planBurst({ count: n, mix: shares, priority, runId: id }), size);
    tracked.current = new Map();
    cursor.current = 0;
    setConfirmed({ sent: 0, failed: 0, cancelled: 0 });
    const fresh: Run = {
      id,
      target: n,
      startedAt: Date.now(),
      baseSent: base.byStatus.SENT ?? 0,
      baseFailed: base.byStatus.FAILED ?? 0,
      batches: batches.length,
      batchesDone: 0,
      accepted: 0,
      rejected: 0,
      rejections: [],
      sendingDone: false,
    };
    setRun(fresh);

    const sendOne = async (items: (typeof batches)[number]) => {
      for (let attempt = 1; ; attempt += 1) {
        try {
          return await api.createBatch(items);
        } catch (err) {
          const wait = err instanceof ApiError ? retryDelayMs(err, attempt) : null;
          if (wait === null) throw err;
          await sleep(wait);
        }
      }
    };

    // Two batches in flight at a time.
    let next = 0;
    let failure: string | undefined;
    const worker = async () => {
      while (next < batches.length && !failure) {
        const items = batches[next++]!;
        try {
          const result = await sendOne(items);
          const rejections = result.results
            .filter((r) => !r.success)
            .map((r) => `#${r.index}: ${r.error?.message ?? 'rejected'}`);
          for (const r of result.results) if (r.data) tracked.current.set(r.data._id, r.data.status);
          setRun((r) =>
            r && r.id === id
              ? {
                  ...r,
                  batchesDone: r.batchesDone + 1,
                  accepted: r.accepted + result.accepted,
                  rejected: r.rejected + result.rejected,
                  rejections: [...r.rejections, ...rejections].slice(0, 5),
                }
              : r,
          );
        } catch (err) {
          failure = errorMessage(err);
        }
      }
    };
    await Promise.all([worker(), worker()]);
    setRun((r) => (r && r.id === id ? { ...r, sendingDone: true, error: failure } : r));
  };

  const elapsed = run ? ((run.finishedAt ?? Date.now()) - run.startedAt) / 1000 : 0;
  return (
    <div className="stack">
      <h1>Burst</h1>
      <p className="muted">
        Sends many test notifications through the batch endpoint, then follows the backlog and the delivered count.
      </p>
      <form className="card form" onSubmit={start} aria-label="Burst settings" noValidate>
        <div className="field-row">
          <div className="field">
            <label htmlFor="burst-count">Notifications</label>
            <input id="burst-count" type="number" min={1} max={20000} step={1} value={count} onChange={(e) => setCount(e.target.value)} />
          </div>
          <div className="field">
            <label htmlFor="burst-batch">Batch size</label>
            <input id="burst-batch" type="number" min={1} max={1000} step={1} value={batchSize} onChange={(e) => setBatchSize(e.target.value)} />
          </div>
          <div className="field">
            <label htmlFor="burst-priority">Priority</label>
            <select id="burst-priority" value={priority} onChange={(e) => setPriority(e.target.value as BurstPriority)}>
              {PRIORITIES.map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
              <option value="MIXED">Mixed (all four in turn)</option>
            </select>
          </div>
        </div>
        <fieldset className="field-row">
          <legend>Channel mix (%)</legend>
          {CHANNELS.map((c) => (
            <div className="field" key={c}>
              <label htmlFor={`burst-mix-${c}`}>{c} %</label>
              <input
                id={`burst-mix-${c}`}
                type="number"
                min={0}
                max={100}
                step={1}
                value={mix[c]}
                onChange={(e) => setMix((m) => ({ ...m, [c]: e.target.value }))}
              />
            </div>
          ))}
        </fieldset>
        <ErrorBanner error={formError} />
        {canSend ? null : <ScopeNotice scope="send" what="Starting a burst" />}
        <div className="actions">
          <button type="submit" className="primary" disabled={sending || !canSend}>
            {sending ? 'Sending…' : 'Start burst'}
          </button>
        </div>
      </form>

      {run ? (
        <section className="card" aria-labelledby="burst-progress-title" data-testid="burst-progress">
          <div className="card-head">
            <h2 id="burst-progress-title">
              Run <span className="mono">{run.id}</span>
            </h2>
            <span className="muted" data-testid="burst-state">
              {run.error ? 'Stopped' : complete ? 'Complete' : sending ? 'Sending' : 'Draining'} · {formatNumber(elapsed, 1)} s
            </span>
          </div>
          <ErrorBanner error={run.error} title="Sending stopped" />
          <ProgressBar label="Accepted by the API" value={run.accepted} max={run.target} testId="burst-accepted" />
          <ProgressBar label="Delivered (SENT since start, from the statistics)" value={Math.min(delivered, run.target)} max={run.target} testId="burst-delivered" />
          <ProgressBar label="Confirmed SENT, this run's own ids" value={confirmed.sent} max={run.accepted || run.target} testId="burst-confirmed" />
          <dl className="inline-stats">
            <div>
              <dt>Batches</dt>
              <dd>
                {run.batchesDone} / {run.batches}
              </dd>
            </div>
            <div>
              <dt>Rejected</dt>
              <dd data-testid="burst-rejected">{formatNumber(run.rejected)}</dd>
            </div>
            <div>
              <dt>Failed since start</dt>
              <dd data-testid="burst-failed">{formatNumber(failed)}</dd>
            </div>
            <div>
              <dt>Backlog (lanes + retry)</dt>
              <dd data-testid="burst-backlog">{formatNumber(backlog)}</dd>
            </div>
            <div>
              <dt>Delivered/s</dt>
              <dd>{elapsed > 0 ? formatNumber(delivered / elapsed, 1) : '—'}</dd>
            </div>
            <div>
              <dt>Confirmed FAILED</dt>
              <dd data-testid="burst-confirmed-failed">{formatNumber(confirmed.failed)}</dd>
            </div>
          </dl>
          {run.rejections.length ? (
            <NoticeBanner kind="warning">Rejected items (first {run.rejections.length}): {run.rejections.join('; ')}</NoticeBanner>
          ) : null}
          <p className="hint">
            The statistics count every notification that reached SENT since the run started, other traffic
            included; the confirmed count follows this run&apos;s own notifications by id and ends the run.
          </p>
        </section>
      ) : null}
      <ErrorBanner error={statsError} title="Statistics" />
      <BacklogTable queueDepth={stats?.queueDepth} />
    </div>
  );
}
