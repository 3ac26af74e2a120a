import { OverviewView } from '@/components/OverviewView';
import { RequireScope } from '@/components/RequireScope';

export default function OverviewPage() {
  return (
    <RequireScope scope="read" title="Overview" what="The overview">
      <OverviewView />
    </RequireScope>
  );
}
