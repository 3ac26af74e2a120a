import { describe, expect, it } from 'vitest';
import {
  breakerLabel,
  compareChannels,
  groupByChannel,
  normalizeBreaker,
  providerRows,
  rateCapLabel,
  settingsLabel,
  sortProviders,
  sourceLabel,
  tenantsLabel,
} from '@/lib/providers';
import type { ProviderAccount } from '@/lib/types';

function account(over: Partial<ProviderAccount> & Pick<ProviderAccount, 'name'>): ProviderAccount {
  return {
    channel: 'EMAIL',
    driver: 'mock',
    priority: 100,
    enabled: true,
    sendRatePerSecond: 0,
    timeoutSeconds: 10,
    settings: {},
    credentialsSecretRef: null,
    tenants: [],
    hasCredentials: false,
    revision: 1,
    source: 'seed',
    updatedAt: '2026-12-02T04:20:00+00:00',
    breaker: null,
    ...over,
  };
}

describe('provider sorting', () => {
  it('orders channels EMAIL, SMS, PUSH, then unknown ones alphabetically', () => {
    expect(['PUSH', 'WEBHOOK', 'SMS', 'AAA', 'EMAIL'].sort(compareChannels)).toEqual(['EMAIL', 'SMS', 'PUSH', 'AAA', 'WEBHOOK']);
  });

  it('sorts by channel, then priority (lower first: tried first), then name', () => {
    const sorted = sortProviders([
      account({ name: 'push-b', channel: 'PUSH', priority: 1 }),
      account({ name: 'postbox', priority: 20 }),
      account({ name: 'zeta', priority: 10 }),
      account({ name: 'mailgrid', priority: 10 }),
      account({ name: 'sms-a', channel: 'SMS', priority: 50 }),
      account({ name: 'sms-b', channel: 'SMS', priority: 5 }),
    ]);
    expect(sorted.map((p) => p.name)).toEqual(['mailgrid', 'zeta', 'postbox', 'sms-b', 'sms-a', 'push-b']);
  });

  it('does not change the list it sorts', () => {
    const list = [account({ name: 'b', priority: 2 }), account({ name: 'a', priority: 1 })];
    sortProviders(list);
    expect(list.map((p) => p.name)).toEqual(['b', 'a']);
  });

  it('groups rows by channel in order, each group by priority', () => {
    const rows = providerRows([
      account({ name: 'sms-1', channel: 'SMS', priority: 3 }),
      account({ name: 'postbox', priority: 20 }),
      account({ name: 'mailgrid', priority: 10 }),
      account({ name: 'sms-0', channel: 'SMS', priority: 1 }),
    ]);
    expect(groupByChannel(rows).map((g) => [g.channel, g.rows.map((r) => r.name)])).toEqual([
      ['EMAIL', ['mailgrid', 'postbox']],
      ['SMS', ['sms-0', 'sms-1']],
    ]);
    expect(groupByChannel([])).toEqual([]);
  });
});

describe('provider labels', () => {
  it('rate cap: none for 0 (or nonsense), else per second', () => {
    expect(rateCapLabel(0)).toBe('none');
    expect(rateCapLabel(-1)).toBe('none');
    expect(rateCapLabel(undefined)).toBe('none');
    expect(rateCapLabel(Number.NaN)).toBe('none');
    expect(rateCapLabel(100)).toBe('100/s');
    expect(rateCapLabel(0.5)).toBe('0.5/s');
    expect(rateCapLabel(2.3456)).toBe('2.35/s');
  });

  it('tenants: all when empty', () => {
    expect(tenantsLabel([])).toBe('all');
    expect(tenantsLabel(null)).toBe('all');
    expect(tenantsLabel(['acme'])).toBe('acme');
    expect(tenantsLabel(['acme', 'globex'])).toBe('acme, globex');
  });

  it('breaker: state and worker count, "no worker" when none reports it', () => {
    expect(breakerLabel(null)).toBe('no worker');
    expect(breakerLabel({ state: 'closed', workers: 1 })).toBe('closed · 1 worker');
    expect(breakerLabel({ state: 'half-open', workers: 3 })).toBe('half-open · 3 workers');
    expect(normalizeBreaker(null)).toBeNull();
    expect(normalizeBreaker({ state: 'open', workers: 2 })).toEqual({ state: 'open', workers: 2 });
    // an unexpected state is shown as unknown rather than styled as a known one
    expect(normalizeBreaker({ state: 'melted' as never, workers: 1 })).toEqual({ state: 'unknown', workers: 1 });
  });

  it('managed by: seed, admin or the Kubernetes resource', () => {
    expect(sourceLabel('seed')).toEqual({ kind: 'seed', text: 'seed', detail: null, raw: 'seed' });
    expect(sourceLabel('admin')).toEqual({ kind: 'admin', text: 'admin', detail: null, raw: 'admin' });
    expect(sourceLabel('kubernetes:notify/mailgrid')).toEqual({
      kind: 'kubernetes',
      text: 'Kubernetes',
      detail: 'notify/mailgrid',
      raw: 'kubernetes:notify/mailgrid',
    });
    expect(sourceLabel('kubernetes:').detail).toBeNull();
    expect(sourceLabel('something-else').kind).toBe('other');
    expect(sourceLabel(undefined).text).toBe('unknown');
  });

  it('settings: only counted', () => {
    expect(settingsLabel(0)).toBe('no settings');
    expect(settingsLabel(1)).toBe('1 setting');
    expect(settingsLabel(4)).toBe('4 settings');
  });
});

describe('provider rows', () => {
  it('turns the API answer into display rows without the settings values', () => {
    const [row] = providerRows([
      account({
        name: 'acme-sms',
        channel: 'SMS',
        driver: 'twilio',
        priority: 5,
        sendRatePerSecond: 100,
        tenants: ['acme'],
        hasCredentials: true,
        credentialsSecretRef: { name: 'twilio-creds' },
        settings: { fromNumber: '+15005550006', apiToken: 'looks-secret' },
        source: 'kubernetes:notify/acme-sms',
        revision: 4,
        breaker: { state: 'closed', workers: 2 },
      }),
    ]);
    expect(row).toEqual({
      name: 'acme-sms',
      channel: 'SMS',
      driver: 'twilio',
      priority: 5,
      enabled: true,
      rateCap: '100/s',
      tenants: 'acme',
      credentials: 'sealed',
      secretName: 'twilio-creds',
      settingsCount: 2,
      breaker: { state: 'closed', workers: 2 },
      breakerLabel: 'closed · 2 workers',
      source: { kind: 'kubernetes', text: 'Kubernetes', detail: 'notify/acme-sms', raw: 'kubernetes:notify/acme-sms' },
      revision: 4,
      updatedAt: '2026-12-02T04:20:00+00:00',
    });
    expect(JSON.stringify(row)).not.toContain('looks-secret');
    expect(JSON.stringify(row)).not.toContain('+15005550006');
  });

  it('reads the example answer of GET /api/admin/providers', () => {
    const data = {
      revision: 12,
      providers: [
        account({ name: 'postbox', priority: 20, breaker: null, enabled: false, source: 'admin' }),
        account({ name: 'mailgrid', priority: 10, settings: { latencyMs: 50 }, revision: 3, breaker: { state: 'closed', workers: 1 } }),
      ],
    };
    const rows = providerRows(data.providers);
    expect(rows.map((r) => [r.name, r.enabled, r.rateCap, r.tenants, r.credentials, r.breakerLabel, r.source.text])).toEqual([
      ['mailgrid', true, 'none', 'all', 'none', 'closed · 1 worker', 'seed'],
      ['postbox', false, 'none', 'all', 'none', 'no worker', 'admin'],
    ]);
  });

  it('tolerates missing optional fields and an empty or absent list', () => {
    expect(providerRows(undefined)).toEqual([]);
    expect(providerRows([])).toEqual([]);
    const partial = { name: 'bare', channel: 'PUSH', driver: 'mock', priority: 1, enabled: true, revision: 1, source: 'seed' } as unknown as ProviderAccount;
    const [row] = providerRows([partial]);
    expect(row).toMatchObject({ tenants: 'all', credentials: 'none', secretName: null, settingsCount: 0, breaker: null, breakerLabel: 'no worker', rateCap: 'none', updatedAt: null });
  });
});
