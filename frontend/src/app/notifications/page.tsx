import type { Metadata } from 'next';
import { Suspense } from 'react';
import { NotificationsView } from '@/components/NotificationsView';
import { RequireScope } from '@/components/RequireScope';

export const metadata: Metadata = { title: 'Notifications' };

// The view reads the query string, so it renders in the browser (static export).
export default function NotificationsPage() {
  return (
    <RequireScope scope="read" title="Notifications" what="The notification list">
      <Suspense fallback={<p className="muted">Loading…</p>}>
        <NotificationsView />
      </Suspense>
    </RequireScope>
  );
}
