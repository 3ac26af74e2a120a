import type { Metadata } from 'next';
import { BurstView } from '@/components/BurstView';
import { RequireScope } from '@/components/RequireScope';

export const metadata: Metadata = { title: 'Burst' };

// A burst is sent (send scope, checked on the page) and followed (read scope).
export default function BurstPage() {
  return (
    <RequireScope scope="read" title="Burst" what="Following a burst (statistics and status checks)">
      <BurstView />
    </RequireScope>
  );
}
