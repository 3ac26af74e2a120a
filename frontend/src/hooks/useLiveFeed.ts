'use client';
import { useEffect, useRef, useState } from 'react';
import type { LiveMode } from '@/lib/live';
import { liveFeed } from '@/lib/liveFeed';
import type { NotificationEvent } from '@/lib/types';

/**
 * Subscribes to the shared live feed. `onEvents` gets coalesced batches (a few per second at
 * most); the returned mode is 'polling' while the stream is absent or down, and callers then
 * poll on their own (usePolling).
 */
export function useLiveFeed(onEvents?: (events: NotificationEvent[]) => void): LiveMode {
  const [mode, setMode] = useState<LiveMode>('polling');
  const handler = useRef(onEvents);
  handler.current = onEvents;
  useEffect(
    () =>
      liveFeed().subscribe({
        onMode: setMode,
        onEvents: (events) => handler.current?.(events),
      }),
    [],
  );
  return mode;
}
