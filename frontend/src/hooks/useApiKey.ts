'use client';
import { useSyncExternalStore } from 'react';
import { onApiKeyChange, readApiKey } from '@/lib/apiKey';

/** The stored API key (null when none), re-rendering when it changes. */
export function useApiKey(): string | null {
  return useSyncExternalStore(onApiKeyChange, readApiKey, () => null);
}
