/** The browser's single LiveFeed, created on first use. */
import { api } from './api';
import { LiveFeed, type LiveCounters } from './live';
import { onSessionChange, readApiKey, REVOKED_NOTICE, signOut } from './session';

declare global {
  interface Window {
    /** What the live feed handled so far (read by the browser tests). */
    __wavecomLive?: LiveCounters;
  }
}

let feed: LiveFeed | null = null;

export function liveFeed(): LiveFeed {
  if (!feed) {
    const f = new LiveFeed({
      url: () => api.eventsUrl(),
      getApiKey: readApiKey,
      onUnauthorized: (key) => {
        if (readApiKey() === key) signOut(REVOKED_NOTICE);
      },
    });
    // Another key (or none): reconnect with it.
    let key = readApiKey();
    onSessionChange(() => {
      const next = readApiKey();
      if (next === key) return;
      key = next;
      f.restart();
    });
    if (typeof window !== 'undefined') window.__wavecomLive = f.counters;
    feed = f;
  }
  return feed;
}
