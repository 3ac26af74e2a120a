import type { Metadata } from 'next';
import { Suspense } from 'react';
import { DeadLettersView } from '@/components/DeadLettersView';
import { RequireScope } from '@/components/RequireScope';

export const metadata: Metadata = { title: 'Dead letters' };

// The view reads the query string, so it renders in the browser (static export).
export default function DeadLettersPage() {
  return (
    <RequireScope scope="admin" title="Dead letters" what="Dead letters, replays and retries">
      <Suspense fallback={<p className="muted">Loading…</p>}>
        <DeadLettersView />
      </Suspense>
    </RequireScope>
  );
}
