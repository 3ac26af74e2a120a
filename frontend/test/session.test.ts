import { describe, expect, it } from 'vitest';
import {
  createSessionStore,
  hasScope,
  isSignInPath,
  NOTICE_STORAGE,
  parseSession,
  REVOKED_NOTICE,
  safeNext,
  SESSION_STORAGE,
  toScopes,
  type Session,
  type StorageLike,
} from '@/lib/session';

function fakeStorage(): StorageLike & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return {
    data,
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => void data.set(k, v),
    removeItem: (k) => void data.delete(k),
  };
}

const ACME: Session = { key: 'wcn_0123456789abcdef_s', tenantId: 'acme', keyId: '0123456789abcdef', scopes: ['send', 'read'] };

describe('session store', () => {
  it('signs in and out, tells listeners, and keeps the same object while unchanged', () => {
    const storage = fakeStorage();
    const store = createSessionStore(storage);
    let calls = 0;
    const unsubscribe = store.subscribe(() => (calls += 1));
    expect(store.read()).toBeNull();
    store.signIn(ACME);
    expect(store.read()).toEqual(ACME);
    expect(store.read()).toBe(store.read()); // stable snapshot for useSyncExternalStore
    expect(JSON.parse(storage.data.get(SESSION_STORAGE)!)).toEqual(ACME);
    store.signOut(REVOKED_NOTICE);
    expect(store.read()).toBeNull();
    expect(storage.data.has(SESSION_STORAGE)).toBe(false);
    expect(store.notice()).toBe(REVOKED_NOTICE);
    store.signIn(ACME); // a new sign-in clears the notice
    expect(store.notice()).toBeNull();
    expect(calls).toBe(3);
    unsubscribe();
    store.signOut();
    expect(calls).toBe(3);
  });

  it('a second 401 after signing out keeps the notice', () => {
    const store = createSessionStore(fakeStorage());
    store.signIn(ACME);
    store.signOut(REVOKED_NOTICE);
    store.signOut();
    expect(store.notice()).toBe(REVOKED_NOTICE);
  });

  it('lives in memory when there is no storage or it fails', () => {
    const memory = createSessionStore(null);
    memory.signIn(ACME);
    expect(memory.read()).toEqual(ACME);
    const broken: StorageLike = {
      getItem: () => null,
      setItem: () => {
        throw new Error('QuotaExceededError');
      },
      removeItem: () => {},
    };
    const store = createSessionStore(broken);
    store.signIn(ACME);
    expect(store.read()).toEqual(ACME);
  });

  it('ignores stored junk and unknown scopes', () => {
    expect(parseSession(null)).toBeNull();
    expect(parseSession('{')).toBeNull();
    expect(parseSession('"x"')).toBeNull();
    expect(parseSession(JSON.stringify({ key: '', tenantId: 'a', scopes: [] }))).toBeNull();
    expect(parseSession(JSON.stringify({ key: 'k', tenantId: 'a', scopes: ['read', 'root'] }))).toEqual({
      key: 'k',
      tenantId: 'a',
      keyId: null,
      scopes: ['read'],
    });
    expect(toScopes(['admin', 'send', 'read', 'x'])).toEqual(['send', 'read', 'admin']);
    expect(NOTICE_STORAGE).not.toBe(SESSION_STORAGE);
  });

  it('checks scopes', () => {
    expect(hasScope(ACME, 'read')).toBe(true);
    expect(hasScope(ACME, 'admin')).toBe(false);
    expect(hasScope(null, 'read')).toBe(false);
  });
});

describe('safeNext', () => {
  it('keeps paths of this site only', () => {
    expect(safeNext('/notifications/?status=SENT')).toBe('/notifications/?status=SENT');
    expect(safeNext('/dead-letters/')).toBe('/dead-letters/');
    for (const bad of [null, '', 'https://evil.example/', '//evil.example/', '/\\evil.example', 'javascript:alert(1)', '/signin/', '/signin/?next=/x', '/signin']) {
      expect(safeNext(bad), String(bad)).toBe('/');
    }
  });

  it('knows the sign-in path with or without the trailing slash', () => {
    expect(isSignInPath('/signin')).toBe(true);
    expect(isSignInPath('/signin/')).toBe(true);
    expect(isSignInPath('/signing/')).toBe(false);
    expect(isSignInPath('/')).toBe(false);
  });
});
