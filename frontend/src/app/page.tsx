import { OverviewView } from '@/components/OverviewView';

export default function OverviewPage() {
  return <OverviewView />;
}
