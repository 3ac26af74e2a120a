import { describe, expect, it } from 'vitest';
import { accountWarnings } from '@/lib/health';
import type { Health } from '@/lib/types';

function health(over: Partial<Health>): Health {
  return { status: 'healthy', timestamp: '2026-12-06T10:00:00Z', services: {}, uptime: 1, ...over };
}

describe('account warnings', () => {
  it("shows the API's own warnings as they are", () => {
    const warnings = ['EMAIL delivers only to mock accounts: its notifications are marked SENT and reach no one'];
    expect(accountWarnings(health({ warnings, channels: {} }))).toEqual(warnings);
  });

  it('derives them from the channels when the API sends no warnings', () => {
    const channels = {
      EMAIL: { usableAccounts: 2, mockOnly: true },
      SMS: { usableAccounts: 0, mockOnly: false },
      PUSH: { usableAccounts: 1, mockOnly: false },
    };
    const found = accountWarnings(health({ channels }));
    expect(found).toHaveLength(2);
    expect(found[0]).toMatch(/^EMAIL delivers only to mock accounts/);
    expect(found[1]).toMatch(/^SMS has no usable provider account/);
  });

  it('says nothing without an answer or with real accounts', () => {
    expect(accountWarnings(null)).toEqual([]);
    expect(accountWarnings(health({ channels: { EMAIL: { usableAccounts: 1, mockOnly: false } } }))).toEqual([]);
  });
});
