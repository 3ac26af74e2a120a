import type { Metadata } from 'next';
import { Suspense } from 'react';
import { NotificationView } from '@/components/NotificationView';
import { RequireScope } from '@/components/RequireScope';

export const metadata: Metadata = { title: 'Notification' };

// The view reads the query string, so it renders in the browser (static export).
export default function NotificationPage() {
  return (
    <RequireScope scope="read" title="Notification" what="Reading a notification">
      <Suspense fallback={<p className="muted">Loading…</p>}>
        <NotificationView />
      </Suspense>
    </RequireScope>
  );
}
