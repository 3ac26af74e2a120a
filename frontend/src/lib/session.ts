/**
 * The signed-in API key and who it is (tenant, key id, scopes, from GET /api/auth/me).
 *
 * Kept in sessionStorage, never localStorage: the key is a credential, and it must go when the
 * tab closes. Where storage is disabled the session lives in memory until the page is left.
 * A sign-out can leave a notice for the sign-in screen ("Your key was revoked or is invalid").
 * Framework-free: the React side reads it through useSyncExternalStore (hooks/useSession).
 */

export const SCOPES = ['send', 'read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface Session {
  key: string;
  tenantId: string;
  keyId: string | null;
  scopes: Scope[];
}

export const SESSION_STORAGE = 'wavecom.session';
export const NOTICE_STORAGE = 'wavecom.signin.notice';
/** Where earlier versions kept the key (localStorage): removed on sight. */
export const LEGACY_KEY_STORAGE = 'wavecom.apiKey';

export const REVOKED_NOTICE = 'Your key was revoked or is invalid. Sign in again.';
export const SIGNED_OUT_NOTICE = 'You signed out. The key is no longer kept in this tab.';

/** The sign-in page (public: everything else needs a session). */
export function isSignInPath(pathname: string): boolean {
  return /^\/signin\/?$/.test(pathname);
}

export type StorageLike = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

/** The scopes this dashboard knows, from an API answer. */
export function toScopes(list: readonly unknown[]): Scope[] {
  return SCOPES.filter((s) => list.includes(s));
}

/** A session from its stored JSON; null when absent or not one. */
export function parseSession(raw: string | null): Session | null {
  if (!raw) return null;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (typeof o.key !== 'string' || !o.key || typeof o.tenantId !== 'string' || !Array.isArray(o.scopes)) return null;
  return {
    key: o.key,
    tenantId: o.tenantId,
    keyId: typeof o.keyId === 'string' ? o.keyId : null,
    scopes: toScopes(o.scopes),
  };
}

export function hasScope(session: Session | null | undefined, scope: Scope): boolean {
  return Boolean(session?.scopes.includes(scope));
}

/**
 * Where to go after signing in: a path of this site only (no other origin, no
 * protocol-relative '//host', not the sign-in page itself); '/' otherwise.
 */
export function safeNext(next: string | null | undefined): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.includes('\\')) return '/';
  if (/^\/signin(\/|$|\?)/.test(next)) return '/';
  return next;
}

function memoryStorage(): StorageLike {
  const m = new Map<string, string>();
  return {
    getItem: (k) => m.get(k) ?? null,
    setItem: (k, v) => void m.set(k, String(v)),
    removeItem: (k) => void m.delete(k),
  };
}

export interface SessionStore {
  read(): Session | null;
  notice(): string | null;
  signIn(session: Session): void;
  /** Forgets the key; `notice` is shown on the sign-in screen. */
  signOut(notice?: string): void;
  subscribe(listener: () => void): () => void;
}

/** A store over `storage` (sessionStorage in the browser; a fake in tests). */
export function createSessionStore(storage: StorageLike | null): SessionStore {
  let s = storage ?? memoryStorage();
  const listeners = new Set<() => void>();
  let cachedRaw: string | null = null;
  let cached: Session | null = null;

  const get = (k: string): string | null => {
    try {
      return s.getItem(k);
    } catch {
      return null;
    }
  };
  const put = (k: string, v: string | null) => {
    try {
      if (v === null) s.removeItem(k);
      else s.setItem(k, v);
    } catch {
      // storage full or disabled meanwhile: keep going in memory for this page
      s = memoryStorage();
      if (v !== null) s.setItem(k, v);
    }
  };
  const emit = () => {
    for (const l of [...listeners]) l();
  };

  return {
    read() {
      const raw = get(SESSION_STORAGE);
      if (raw !== cachedRaw) {
        cachedRaw = raw;
        cached = parseSession(raw);
      }
      return cached;
    },
    notice: () => get(NOTICE_STORAGE),
    signIn(session) {
      put(SESSION_STORAGE, JSON.stringify(session));
      put(NOTICE_STORAGE, null);
      emit();
    },
    signOut(notice) {
      const had = get(SESSION_STORAGE) !== null;
      put(SESSION_STORAGE, null);
      if (notice) put(NOTICE_STORAGE, notice);
      else if (had) put(NOTICE_STORAGE, null);
      emit();
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

function browserStorage(): StorageLike | null {
  if (typeof window === 'undefined') return null;
  try {
    const s = window.sessionStorage;
    const probe = '__wavecom_probe__';
    s.setItem(probe, '1');
    s.removeItem(probe);
    return s;
  } catch {
    return null; // storage disabled (privacy mode): the session lives in memory
  }
}

/** The browser's session (created on first use, so pre-rendering never touches storage). */
let store: SessionStore | null = null;
function browserStore(): SessionStore {
  if (!store) {
    store = createSessionStore(browserStorage());
    if (typeof window !== 'undefined') {
      try {
        window.localStorage.removeItem(LEGACY_KEY_STORAGE);
      } catch {
        // no localStorage: nothing to forget
      }
    }
  }
  return store;
}

export const readSession = (): Session | null => (typeof window === 'undefined' ? null : browserStore().read());
export const readSignInNotice = (): string | null => (typeof window === 'undefined' ? null : browserStore().notice());
export const readApiKey = (): string | null => readSession()?.key ?? null;
export const signIn = (session: Session): void => browserStore().signIn(session);
export const signOut = (notice?: string): void => browserStore().signOut(notice);
export const onSessionChange = (listener: () => void): (() => void) =>
  typeof window === 'undefined' ? () => {} : browserStore().subscribe(listener);
