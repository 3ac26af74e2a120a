/**
 * Pure helpers of the Providers page: GET /api/admin/providers → rows to show, sorted by
 * channel then priority (lower is tried first), and their labels.
 *
 * A row never carries an account's `settings`, only how many keys they have: the API never
 * returns credentials, but nothing from the settings reaches the page, to be safe.
 */
import { CHANNELS, type BreakerState, type ProviderAccount, type ProviderBreaker } from './types';

const BREAKER_STATES: readonly BreakerState[] = ['closed', 'half-open', 'open'];

export type SourceKind = 'seed' | 'admin' | 'kubernetes' | 'other';

export interface ProviderRow {
  name: string;
  channel: string;
  driver: string;
  priority: number;
  enabled: boolean;
  rateCap: string;
  tenants: string;
  /** 'sealed' (stored encrypted, never shown) or 'none' */
  credentials: 'sealed' | 'none';
  /** the Kubernetes Secret they come from, if any (a name, not a value) */
  secretName: string | null;
  settingsCount: number;
  breaker: { state: BreakerState | 'unknown'; workers: number } | null;
  breakerLabel: string;
  /** `text`: who; `detail`: which resource (Kubernetes: "<namespace>/<name>"), else null */
  source: { kind: SourceKind; text: string; detail: string | null; raw: string };
  revision: number;
  updatedAt: string | null;
}

export interface ProviderGroup {
  channel: string;
  rows: ProviderRow[];
}

function finite(n: unknown, fallback = 0): number {
  return typeof n === 'number' && Number.isFinite(n) ? n : fallback;
}

/** EMAIL, SMS, PUSH in that order, then any other channel alphabetically. */
export function compareChannels(a: string, b: string): number {
  const ia = (CHANNELS as readonly string[]).indexOf(a);
  const ib = (CHANNELS as readonly string[]).indexOf(b);
  const ra = ia === -1 ? CHANNELS.length : ia;
  const rb = ib === -1 ? CHANNELS.length : ib;
  return ra - rb || a.localeCompare(b);
}

/** What the order needs (an account of the API or a display row). */
export interface Sortable {
  name: string;
  channel: string;
  priority: number;
}

/** Channel, then priority (lower first: tried first), then name. */
export function compareProviders(a: Sortable, b: Sortable): number {
  return compareChannels(a.channel, b.channel) || finite(a.priority) - finite(b.priority) || a.name.localeCompare(b.name);
}

export function sortProviders<T extends Sortable>(list: readonly T[]): T[] {
  return [...list].sort(compareProviders);
}

/** "none" for no cap (0), else e.g. "100/s". */
export function rateCapLabel(perSecond: number | null | undefined): string {
  const n = finite(perSecond);
  if (n <= 0) return 'none';
  return `${Number.isInteger(n) ? n : Number(n.toFixed(2))}/s`;
}

/** "all" when shared by every tenant (no list), else the tenants. */
export function tenantsLabel(tenants: readonly string[] | null | undefined): string {
  return tenants && tenants.length > 0 ? tenants.join(', ') : 'all';
}

export function credentialsLabel(hasCredentials: boolean | null | undefined): 'sealed' | 'none' {
  return hasCredentials ? 'sealed' : 'none';
}

export function normalizeBreaker(b: ProviderBreaker | null | undefined): ProviderRow['breaker'] {
  if (!b || typeof b !== 'object') return null;
  const state = (BREAKER_STATES as readonly string[]).includes(b.state) ? b.state : 'unknown';
  return { state, workers: Math.max(0, Math.trunc(finite(b.workers))) };
}

/** "closed · 2 workers", "open · 1 worker", or "no worker" when no live worker reports it. */
export function breakerLabel(b: ProviderRow['breaker']): string {
  if (!b) return 'no worker';
  return `${b.state} · ${b.workers} worker${b.workers === 1 ? '' : 's'}`;
}

/** Who manages the account: the seed, the admin API/CLI, or a Kubernetes resource. */
export function sourceLabel(source: string | null | undefined): ProviderRow['source'] {
  const raw = source ?? '';
  if (raw === 'seed') return { kind: 'seed', text: 'seed', detail: null, raw };
  if (raw === 'admin') return { kind: 'admin', text: 'admin', detail: null, raw };
  if (raw.startsWith('kubernetes:')) {
    const ref = raw.slice('kubernetes:'.length);
    return { kind: 'kubernetes', text: 'Kubernetes', detail: ref || null, raw };
  }
  return { kind: 'other', text: raw || 'unknown', detail: null, raw };
}

export function settingsLabel(count: number): string {
  return count === 0 ? 'no settings' : `${count} setting${count === 1 ? '' : 's'}`;
}

export function toRow(p: ProviderAccount): ProviderRow {
  const breaker = normalizeBreaker(p.breaker);
  const settings = p.settings;
  return {
    name: String(p.name),
    channel: String(p.channel ?? ''),
    driver: String(p.driver ?? ''),
    priority: finite(p.priority),
    enabled: p.enabled === true,
    rateCap: rateCapLabel(p.sendRatePerSecond),
    tenants: tenantsLabel(Array.isArray(p.tenants) ? p.tenants : []),
    credentials: credentialsLabel(p.hasCredentials),
    secretName: p.credentialsSecretRef && typeof p.credentialsSecretRef.name === 'string' ? p.credentialsSecretRef.name : null,
    settingsCount: settings && typeof settings === 'object' && !Array.isArray(settings) ? Object.keys(settings).length : 0,
    breaker,
    breakerLabel: breakerLabel(breaker),
    source: sourceLabel(p.source),
    revision: finite(p.revision),
    updatedAt: typeof p.updatedAt === 'string' ? p.updatedAt : null,
  };
}

/** The rows, sorted by channel then priority. */
export function providerRows(list: readonly ProviderAccount[] | null | undefined): ProviderRow[] {
  return sortProviders((list ?? []).filter((p) => p && typeof p.name === 'string')).map(toRow);
}

/** Sorted rows grouped by channel (channels in order, rows by priority within each). */
export function groupByChannel(rows: readonly ProviderRow[]): ProviderGroup[] {
  const groups: ProviderGroup[] = [];
  for (const row of sortProviders(rows)) {
    const last = groups[groups.length - 1];
    if (last && last.channel === row.channel) last.rows.push(row);
    else groups.push({ channel: row.channel, rows: [row] });
  }
  return groups;
}
