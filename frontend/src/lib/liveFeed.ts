/** The browser's single LiveFeed, created on first use. */
import { api } from './api';
import { readApiKey } from './apiKey';
import { fetchProbe, LiveFeed } from './live';

let feed: LiveFeed | null = null;

export function liveFeed(): LiveFeed {
  if (!feed) {
    feed = new LiveFeed({
      url: () => api.eventsUrl(),
      probe: (url) => {
        const key = readApiKey();
        return fetchProbe(url, key ? { Authorization: `Bearer ${key}` } : {});
      },
    });
  }
  return feed;
}
