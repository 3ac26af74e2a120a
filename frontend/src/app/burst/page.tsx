import type { Metadata } from 'next';
import { BurstView } from '@/components/BurstView';

export const metadata: Metadata = { title: 'Burst' };

export default function BurstPage() {
  return <BurstView />;
}
