'use client';
import { useSyncExternalStore } from 'react';
import { hasScope, onSessionChange, readSession, readSignInNotice, type Scope, type Session } from '@/lib/session';

const noop = () => () => {};

/** The signed-in session (null when signed out, and while pre-rendering), re-rendering on change. */
export function useSession(): Session | null {
  return useSyncExternalStore(onSessionChange, readSession, () => null);
}

/** Whether the signed-in key has `scope`. */
export function useScope(scope: Scope): boolean {
  return hasScope(useSession(), scope);
}

/** The notice a sign-out left for the sign-in screen. */
export function useSignInNotice(): string | null {
  return useSyncExternalStore(onSessionChange, readSignInNotice, () => null);
}

/** False while pre-rendering and hydrating, true once the page runs in the browser. */
export function useHydrated(): boolean {
  return useSyncExternalStore(
    noop,
    () => true,
    () => false,
  );
}
