'use client';
import Link from 'next/link';
import { useRouter, useSearchParams } from 'next/navigation';
import { useRef, useState, type FormEvent } from 'react';
import { useSession, useSignInNotice } from '@/hooks/useSession';
import { api, ApiError, errorMessage } from '@/lib/api';
import { REVOKED_NOTICE, safeNext, signIn, toScopes } from '@/lib/session';
import { ErrorBanner } from './ErrorBanner';
import { FormField } from './FormField';
import { NoticeBanner } from './NoticeBanner';

/**
 * Sign in with an API key: checked with GET /api/auth/me, then kept in sessionStorage (gone
 * when the tab closes). A 401 shows the API's message beside the field.
 */
export function SignInView() {
  const router = useRouter();
  const next = safeNext(useSearchParams()?.get('next'));
  const session = useSession();
  const notice = useSignInNotice();
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [topError, setTopError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement | null>(null);

  const fail = (message: string) => {
    setError(message);
    input.current?.focus();
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setTopError(null);
    const value = key.trim();
    if (!value) return fail('Enter an API key.');
    if (/\s/.test(value)) return fail('An API key has no spaces in it.');
    setError(undefined);
    setBusy(true);
    try {
      const me = await api.me(value);
      signIn({ key: value, tenantId: me.tenantId, keyId: me.keyId, scopes: toScopes(me.scopes) });
      setKey('');
      router.replace(next);
    } catch (err) {
      setBusy(false);
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) fail(err.message);
      else setTopError(errorMessage(err));
    }
  };

  return (
    <div className="stack narrow-page signin">
      <h1>Sign in</h1>
      {notice ? (
        <div data-testid="signin-notice">
          <NoticeBanner kind={notice === REVOKED_NOTICE ? 'warning' : 'info'}>{notice}</NoticeBanner>
        </div>
      ) : null}
      {session ? (
        <NoticeBanner>
          Signed in as tenant <strong>{session.tenantId}</strong>. Signing in with another key replaces it, or{' '}
          <Link href={next}>go back to the dashboard</Link>.
        </NoticeBanner>
      ) : null}
      <ErrorBanner error={topError} />
      <form className="card form" onSubmit={submit} noValidate aria-label="Sign in">
        <FormField
          id="signin-key"
          label="API key"
          hint="A key of your tenant (wcn_…). It is kept in this browser tab only and forgotten when the tab closes."
          error={error}
        >
          {(aria) => (
            <input
              {...aria}
              ref={input}
              type="password"
              autoComplete="off"
              autoCapitalize="off"
              spellCheck={false}
              value={key}
              onChange={(e) => {
                setKey(e.target.value);
                setError(undefined);
              }}
            />
          )}
        </FormField>
        <div className="actions">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </div>
      </form>
    </div>
  );
}
