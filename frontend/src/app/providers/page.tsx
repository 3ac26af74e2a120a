import type { Metadata } from 'next';
import { ProvidersView } from '@/components/ProvidersView';
import { RequireScope } from '@/components/RequireScope';

export const metadata: Metadata = { title: 'Providers' };

export default function ProvidersPage() {
  return (
    <RequireScope scope="admin" title="Providers" what="The provider accounts">
      <ProvidersView />
    </RequireScope>
  );
}
