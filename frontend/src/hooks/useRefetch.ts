'use client';
import { useCallback, useEffect, useRef } from 'react';

/**
 * Returns `schedule()`: runs `task` once `delayMs` after the first call, however many calls
 * come meanwhile (refetch after live updates, at most once per delay). Cancelled on unmount.
 */
export function useRefetch(task: () => unknown, delayMs: number): () => void {
  const latest = useRef(task);
  latest.current = task;
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(
    () => () => {
      if (timer.current) clearTimeout(timer.current);
      timer.current = null;
    },
    [],
  );
  return useCallback(() => {
    if (timer.current !== null) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      void latest.current();
    }, delayMs);
  }, [delayMs]);
}
