import type { Callback, CallbackAttempt } from './types';

/** One line about a callback's state, as the notification page shows it. */
export function callbackSummary(c: Callback): string {
  const tries = c.attempts.length === 1 ? '1 attempt' : `${c.attempts.length} attempts`;
  if (c.state === 'delivered') return `Delivered after ${tries}`;
  if (c.state === 'parked') return `Parked (dead letter) after ${tries}${c.parkedReason ? `: ${c.parkedReason}` : ''}`;
  return c.attempts.length === 0 ? 'Queued' : `Retrying after ${tries}`;
}

/** What one attempt's answer was: its HTTP status, or why there was none. */
export function attemptAnswer(a: CallbackAttempt): string {
  if (a.status !== null) return `HTTP ${a.status}`;
  return a.error ?? 'no answer';
}
