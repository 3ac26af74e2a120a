'use client';
import { useSession } from '@/hooks/useSession';
import type { Scope } from '@/lib/session';
import { NoticeBanner } from './NoticeBanner';

/** Says why something is not offered: the signed-in key lacks `scope`. */
export function ScopeNotice({ scope, what }: { scope: Scope; what: string }) {
  const scopes = useSession()?.scopes ?? [];
  return (
    <div data-testid={`needs-${scope}`}>
      <NoticeBanner kind="info">
        {what} needs an API key with the <strong>{scope}</strong> scope; this key has{' '}
        {scopes.length ? scopes.join(', ') : 'none'}. Sign in with another key to use it.
      </NoticeBanner>
    </div>
  );
}
