/** The optional API key, kept in localStorage and sent as `Authorization: Bearer <key>`. */

export const API_KEY_STORAGE = 'wavecom.apiKey';
const CHANGED = 'wavecom:apikey';

function storage(): Storage | null {
  try {
    return typeof window === 'undefined' ? null : window.localStorage;
  } catch {
    return null; // storage disabled (privacy mode): run without a key
  }
}

export function readApiKey(): string | null {
  const value = storage()?.getItem(API_KEY_STORAGE)?.trim();
  return value ? value : null;
}

export function writeApiKey(key: string | null): void {
  const s = storage();
  if (!s) return;
  const value = key?.trim();
  if (value) s.setItem(API_KEY_STORAGE, value);
  else s.removeItem(API_KEY_STORAGE);
  window.dispatchEvent(new Event(CHANGED));
}

/** Calls `listener` when the key changes in this tab or another one. */
export function onApiKeyChange(listener: () => void): () => void {
  if (typeof window === 'undefined') return () => {};
  const onStorage = (e: StorageEvent) => {
    if (e.key === API_KEY_STORAGE) listener();
  };
  window.addEventListener(CHANGED, listener);
  window.addEventListener('storage', onStorage);
  return () => {
    window.removeEventListener(CHANGED, listener);
    window.removeEventListener('storage', onStorage);
  };
}
