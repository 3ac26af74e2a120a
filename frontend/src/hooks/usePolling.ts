'use client';
import { useEffect, useRef } from 'react';

/**
 * Calls `task` now and then `intervalMs` after each run ends (never overlapping) while
 * `enabled`. The task gets an AbortSignal that fires when polling stops. A new
 * `restartKey` (e.g. the filters) stops the current cycle and runs the task at once.
 */
export function usePolling(
  task: (signal: AbortSignal) => Promise<unknown> | void,
  intervalMs: number,
  enabled = true,
  restartKey?: string,
): void {
  const latest = useRef(task);
  latest.current = task;
  useEffect(() => {
    if (!enabled) return undefined;
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        await latest.current(controller.signal);
      } catch {
        // the task reports its own errors; keep polling
      }
      if (!controller.signal.aborted) timer = setTimeout(run, intervalMs);
    };
    void run();
    return () => {
      controller.abort();
      if (timer) clearTimeout(timer);
    };
  }, [intervalMs, enabled, restartKey]);
}
