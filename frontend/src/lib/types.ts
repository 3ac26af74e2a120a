/** The API's shapes (seed 003 contract plus the additions announced for later). */

export const CHANNELS = ['EMAIL', 'SMS', 'PUSH'] as const;
export type Channel = (typeof CHANNELS)[number];

export const PRIORITIES = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const STATUSES = [
  'PENDING',
  'SCHEDULED',
  'QUEUED',
  'PROCESSING',
  'RETRYING',
  'SENT',
  'FAILED',
  'CANCELLED',
  'EXPIRED',
  'DELIVERED',
  'UNDELIVERED',
  'BOUNCED',
  'COMPLAINED',
] as const;
export type Status = (typeof STATUSES)[number];

/** What a provider's receipt may move a SENT notification to (docs/receipts.md). */
export const RECEIPT_STATUSES: readonly Status[] = ['DELIVERED', 'UNDELIVERED', 'BOUNCED', 'COMPLAINED'];

/** What each status means, for a badge's tooltip. */
export const STATUS_MEANINGS: Record<Status, string> = {
  PENDING: 'Accepted, not yet queued',
  SCHEDULED: 'Waiting for its scheduled time',
  QUEUED: 'Waiting for a worker',
  PROCESSING: 'A worker is delivering it',
  RETRYING: 'Waiting for another attempt',
  SENT: 'A provider accepted it; a receipt may follow',
  FAILED: 'No provider took it: dead-lettered',
  CANCELLED: 'Cancelled before it was sent',
  EXPIRED: 'Its validity ended before a provider had it: never sent',
  DELIVERED: 'The provider reported it delivered',
  UNDELIVERED: 'The provider accepted it, then gave up',
  BOUNCED: 'The email bounced',
  COMPLAINED: 'The recipient reported the email as spam',
};

/** EXPIRED: its validity (ttlSeconds / expiresAt) ended before a provider had it; never sent. */
export const FINAL_STATUSES: readonly Status[] = ['SENT', 'FAILED', 'CANCELLED', 'EXPIRED', ...RECEIPT_STATUSES];

/** Where a notification was when it expired (expiredWhere; docs/expiry.md). */
export const EXPIRED_WHERE: Record<string, string> = {
  scheduled: 'while scheduled',
  queued: 'while queued',
  retry: 'while waiting for a retry',
  breaker: 'while every provider was unavailable (breakers open)',
  no_account: 'while no provider account could take it',
  rate_cap: "while waiting for a provider's send-rate cap",
  lost_worker: 'after the worker holding it was lost',
  failover: 'while failing over between providers',
};

export function isFinal(status: Status | string | undefined): boolean {
  return status !== undefined && (FINAL_STATUSES as readonly string[]).includes(status);
}

/** Why a notification was dead-lettered (GET /api/dlq?reason=). */
export const DEAD_LETTER_REASONS = ['permanent', 'retries_exhausted', 'replay_failed'] as const;

export interface DeadLetterInfo {
  reason: string;
  attempts: number;
  lastError?: string | null;
  at: string;
}

export interface Notification {
  _id: string;
  tenantId?: string;
  type: Channel;
  recipient: string;
  subject?: string;
  message?: string;
  status: Status;
  priority: Priority;
  retryCount?: number;
  maxRetries?: number;
  metadata?: Record<string, unknown>;
  scheduledAt?: string;
  expiresAt?: string;
  expiredAt?: string;
  expiredWhere?: string;
  nextAttemptAt?: string;
  sentAt?: string;
  failedAt?: string;
  error?: string;
  provider?: string;
  providerMessageId?: string;
  receipt?: Receipt;
  processingTimeMs?: number;
  createdAt: string;
  updatedAt?: string;
  deadLetter?: DeadLetterInfo;
}

/** The latest provider receipt that moved a notification on. */
export interface Receipt {
  status: Status;
  at: string;
  code?: string | null;
}

export interface LogEntry {
  _id: string;
  notificationId: string;
  status: Status;
  message: string;
  timestamp: string;
  metadata?: Record<string, unknown>;
}

export interface NotificationWithLogs {
  notification: Notification;
  logs: LogEntry[];
}

export interface Pagination {
  currentPage: number;
  totalPages: number;
  totalItems: number;
  // false: more than totalItems match (a createdAt range is counted up to 10,000)
  totalItemsExact: boolean;
  itemsPerPage: number;
}

export interface NotificationPage {
  notifications: Notification[];
  pagination: Pagination;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface ProviderState {
  channel: Channel;
  state: BreakerState;
}

/** The worst breaker state the live workers report for an account, and how many report it. */
export interface ProviderBreaker {
  state: BreakerState;
  workers: number;
}

/**
 * One provider account of GET /api/admin/providers (never its credentials: `hasCredentials`
 * only says whether sealed ones are stored).
 */
export interface ProviderAccount {
  name: string;
  channel: Channel;
  driver: string;
  /** lower is tried first within the channel */
  priority: number;
  enabled: boolean;
  /** 0: no cap */
  sendRatePerSecond: number;
  timeoutSeconds?: number;
  /** driver settings (never secrets; the dashboard only counts the keys) */
  settings?: Record<string, unknown>;
  credentialsSecretRef?: { name: string } | null;
  /** empty: shared by every tenant */
  tenants: string[];
  hasCredentials: boolean;
  revision: number;
  /** "seed", "admin" or "kubernetes:<namespace>/<name>" */
  source: string;
  updatedAt?: string | null;
  /** null when no live worker reports the account */
  breaker: ProviderBreaker | null;
  /** Why no worker uses the account whatever its state (a mock in production), else null. */
  refused?: string | null;
}

/** GET /api/admin/providers: the accounts and the configuration's revision. */
export interface ProviderList {
  revision: number;
  providers: ProviderAccount[];
}

export interface SystemStats {
  total: number;
  byStatus: Partial<Record<Status, number>>;
  byType: Partial<Record<Channel, number>>;
  byPriority: Partial<Record<Priority, number>>;
  /** e.g. "wavecom.email.high", "wavecom.sms.standard", "wavecom.dlq", "retry" */
  queueDepth: Record<string, number>;
  averageProcessingTime: number;
  successRate: number;
  /** Announced for later: circuit breaker state per provider. */
  providers?: Record<string, ProviderState>;
}

/** What a channel delivers through, by its stored provider accounts (GET /api/health). */
export interface ChannelAccounts {
  /** Enabled accounts; in production mocks are refused and not counted. 0: the channel waits. */
  usableAccounts: number;
  /** Every usable account is a mock: notifications become SENT and reach no one. */
  mockOnly: boolean;
}

export interface Health {
  status: 'healthy' | 'unhealthy';
  timestamp: string;
  services: Record<string, 'connected' | 'disconnected'>;
  uptime: number;
  /** Per channel; null while the database does not answer (absent from older APIs). */
  channels?: Record<string, ChannelAccounts> | null;
  /** Plain sentences for an operator (absent from older APIs). */
  warnings?: string[];
}

/** The body of POST /api/notifications (and one item of a batch). */
export interface NotificationCreate {
  type: Channel;
  recipient: string;
  subject?: string;
  message: string;
  priority?: Priority;
  metadata?: Record<string, unknown>;
  scheduledAt?: string;
}

export interface ErrorDetail {
  field: string | null;
  message: string;
}

export interface ErrorBody {
  code: string;
  message: string;
  details?: ErrorDetail[];
}

export interface BatchItemResult {
  index: number;
  success: boolean;
  data?: Notification;
  error?: ErrorBody;
}

export interface BatchResult {
  accepted: number;
  rejected: number;
  results: BatchItemResult[];
}

export interface DeadLetterQuery {
  type?: Channel | '';
  reason?: string;
  page?: number;
  limit?: number;
}

export interface ReplayRequest {
  type?: Channel;
  reason?: string;
  ids?: string[];
}

export interface ListQuery {
  status?: Status | '';
  type?: Channel | '';
  priority?: Priority | '';
  page?: number;
  limit?: number;
}

/** One live update: an item of the data (a JSON array) of an SSE `notification` event. */
export interface NotificationEvent {
  _id: string;
  status: Status;
  type: Channel;
  priority: Priority;
  attempts?: number;
  provider?: string | null;
  updatedAt: string;
}

/** GET /api/auth/me: who the API key is. */
export interface Identity {
  tenantId: string;
  /** null only in the API's development mode (no key) */
  keyId: string | null;
  scopes: string[];
}

/** One POST of a status callback to a tenant's endpoint (GET /api/notifications/{id}/callbacks). */
export interface CallbackAttempt {
  at: string;
  /** The receiver's HTTP status; null when there was no answer (see `error`). */
  status: number | null;
  error: string | null;
  durationMs: number;
  outcome: 'delivered' | 'retry' | 'parked';
}

/** A status callback a notification's change owed one of the tenant's endpoints. */
export interface Callback {
  id: string;
  endpointId: string;
  webhookId: string;
  notificationId: string;
  type: string;
  status: string;
  sequence: number;
  state: 'pending' | 'delivered' | 'parked';
  createdAt: string;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
  parkedAt: string | null;
  parkedReason: string | null;
  attempts: CallbackAttempt[];
}
