'use client';
import { usePathname, useRouter } from 'next/navigation';
import { useEffect, type ReactNode } from 'react';
import { useHydrated, useSession } from '@/hooks/useSession';
import { isSignInPath } from '@/lib/session';

/**
 * Every page but the sign-in page needs a session: without one nothing is rendered (so no
 * request is made) and the browser goes to /signin/?next=<this page>.
 */
export function AuthGate({ children }: { children: ReactNode }) {
  const session = useSession();
  const hydrated = useHydrated();
  const router = useRouter();
  const open = isSignInPath(usePathname() ?? '/');
  const locked = !open && !session;

  useEffect(() => {
    if (!hydrated || !locked) return;
    const here = `${window.location.pathname}${window.location.search}`;
    router.replace(`/signin/?next=${encodeURIComponent(here)}`);
  }, [hydrated, locked, router]);

  if (!locked) return children;
  return (
    <p className="muted" data-testid="locked">
      {hydrated ? 'Sign-in required: opening the sign-in page…' : 'Loading…'}
    </p>
  );
}
