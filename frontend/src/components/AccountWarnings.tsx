'use client';
import { useCallback, useState } from 'react';
import { usePolling } from '@/hooks/usePolling';
import { api } from '@/lib/api';
import { accountWarnings } from '@/lib/health';
import { NoticeBanner } from './NoticeBanner';

const POLL_MS = 30_000;

/** Warnings about the provider accounts from GET /api/health: mock-only or empty channels. */
export function AccountWarnings() {
  const [warnings, setWarnings] = useState<string[]>([]);
  const load = useCallback(async (signal?: AbortSignal) => {
    try {
      setWarnings(accountWarnings(await api.health({ signal })));
    } catch {
      // health unreachable: the other panels show the API's error
    }
  }, []);
  usePolling(load, POLL_MS);
  if (!warnings.length) return null;
  return (
    <div className="stack" aria-label="Provider account warnings">
      {warnings.map((w) => (
        <NoticeBanner key={w} kind="warning">
          {w}
        </NoticeBanner>
      ))}
    </div>
  );
}
