import type { Metadata } from 'next';
import { SendView } from '@/components/SendView';

export const metadata: Metadata = { title: 'Send' };

export default function SendPage() {
  return <SendView />;
}
