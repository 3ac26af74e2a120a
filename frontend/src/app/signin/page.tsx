import type { Metadata } from 'next';
import { Suspense } from 'react';
import { SignInView } from '@/components/SignInView';

export const metadata: Metadata = { title: 'Sign in' };

// The view reads ?next= from the query string, so it renders in the browser (static export).
export default function SignInPage() {
  return (
    <Suspense fallback={<p className="muted">Loading…</p>}>
      <SignInView />
    </Suspense>
  );
}
