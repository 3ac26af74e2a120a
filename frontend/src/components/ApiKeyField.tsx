'use client';
import { useEffect, useState, type FormEvent } from 'react';
import { useApiKey } from '@/hooks/useApiKey';
import { writeApiKey } from '@/lib/apiKey';
import { liveFeed } from '@/lib/liveFeed';

/** A small form in the header bar: the API key sent as `Authorization: Bearer <key>`. */
export function ApiKeyField() {
  const stored = useApiKey();
  const [draft, setDraft] = useState('');
  useEffect(() => setDraft(stored ?? ''), [stored]);

  const save = (e: FormEvent) => {
    e.preventDefault();
    writeApiKey(draft);
    liveFeed().restart();
  };
  const clear = () => {
    writeApiKey(null);
    setDraft('');
    liveFeed().restart();
  };

  return (
    <form className="api-key" onSubmit={save} aria-label="API key">
      <label htmlFor="api-key-input">API key</label>
      <input
        id="api-key-input"
        type="password"
        autoComplete="off"
        spellCheck={false}
        placeholder={stored ? 'set' : 'none'}
        value={draft}
        onChange={(e) => setDraft(e.target.value)}
      />
      <button type="submit" disabled={(draft.trim() || null) === stored}>
        Save
      </button>
      {stored ? (
        <button type="button" onClick={clear}>
          Clear
        </button>
      ) : null}
    </form>
  );
}
