'use client';
import type { ReactNode } from 'react';
import { useScope } from '@/hooks/useSession';
import type { Scope } from '@/lib/session';
import { ScopeNotice } from './ScopeNotice';

/** A page that needs `scope`: without it, its title and why, and no request to the API. */
export function RequireScope({ scope, title, what, children }: { scope: Scope; title: string; what: string; children: ReactNode }) {
  if (useScope(scope)) return children;
  return (
    <div className="stack">
      <h1>{title}</h1>
      <ScopeNotice scope={scope} what={what} />
    </div>
  );
}
