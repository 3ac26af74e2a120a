import type { Health } from './types';

/**
 * What the dashboard must say plainly about the provider accounts: the API's own warnings
 * (a channel delivering only to mocks, one with no usable account, a mock refused in
 * production), or, from an API that sends only `channels`, the same derived from them.
 */
export function accountWarnings(health: Health | null): string[] {
  if (!health) return [];
  if (health.warnings) return health.warnings;
  return Object.entries(health.channels ?? {}).flatMap(([channel, c]) => {
    if (c.usableAccounts === 0) return [`${channel} has no usable provider account: its notifications wait in the queue`];
    if (c.mockOnly) return [`${channel} delivers only to mock accounts: its notifications are marked SENT and reach no one`];
    return [];
  });
}
