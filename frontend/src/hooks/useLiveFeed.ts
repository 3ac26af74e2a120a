'use client';
import { useEffect, useRef, useState } from 'react';
import type { LiveMode } from '@/lib/live';
import { liveFeed } from '@/lib/liveFeed';
import type { NotificationEvent } from '@/lib/types';

/**
 * Subscribes to the shared live feed. `onEvents` gets coalesced batches (a few per second at
 * most); `onResync` is called when the server dropped updates (refetch what is shown); the
 * returned mode is 'polling' while the stream is absent or down, and callers then poll on their
 * own (usePolling).
 */
export function useLiveFeed(onEvents?: (events: NotificationEvent[]) => void, onResync?: () => void): LiveMode {
  const [mode, setMode] = useState<LiveMode>('polling');
  const handlers = useRef({ onEvents, onResync });
  handlers.current = { onEvents, onResync };
  useEffect(
    () =>
      liveFeed().subscribe({
        onMode: setMode,
        onEvents: (events) => handlers.current.onEvents?.(events),
        onResync: () => handlers.current.onResync?.(),
      }),
    [],
  );
  return mode;
}
