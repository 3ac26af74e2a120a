'use client';
import { useLiveFeed } from '@/hooks/useLiveFeed';

export function LiveIndicator() {
  const mode = useLiveFeed();
  return (
    <span className={`live live-${mode}`} data-testid="live-mode" title={mode === 'sse' ? 'Live updates over Server-Sent Events' : 'No event stream: polling every 2 s'}>
      <span className="dot" aria-hidden="true" />
      {mode === 'sse' ? 'Live' : 'Polling 2 s'}
    </span>
  );
}
