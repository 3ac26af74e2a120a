'use client';
import { useSession } from '@/hooks/useSession';
import { SIGNED_OUT_NOTICE, signOut } from '@/lib/session';

/** Who is signed in (tenant and the key's scopes), and Sign out. */
export function SessionBar() {
  const session = useSession();
  if (!session) return null;
  return (
    <div className="session" data-testid="session">
      <span className="session-tenant">
        Tenant <strong data-testid="session-tenant">{session.tenantId}</strong>
      </span>
      <ul className="scopes" aria-label="Scopes of this key" data-testid="session-scopes">
        {session.scopes.map((s) => (
          <li key={s} className="scope">
            {s}
          </li>
        ))}
      </ul>
      <button type="button" onClick={() => signOut(SIGNED_OUT_NOTICE)}>
        Sign out
      </button>
    </div>
  );
}
