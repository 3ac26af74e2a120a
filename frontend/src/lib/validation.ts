/**
 * Client-side validation of the Send form, mirroring the API's rules
 * (services/wavecom/api/schemas.py) so most mistakes are caught before a round trip.
 * Pure functions only: unit-tested in test/validation.test.ts.
 */
import { CHANNELS, PRIORITIES, type Channel, type NotificationCreate, type Priority } from './types';

export const EMAIL_RE =
  /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
export const E164_RE = /^\+[1-9]\d{6,14}$/;
export const PUSH_TOKEN_RE = /^[A-Za-z0-9_\-:.]{16,4096}$/;

export const MESSAGE_MAX = 5000;
export const SUBJECT_MAX = 998;
export const METADATA_MAX_BYTES = 8 * 1024;
export const METADATA_MAX_DEPTH = 5;
export const SCHEDULE_MAX_AHEAD_MS = 365 * 24 * 3600 * 1000;

/** What the form holds: every field as the text the user typed. */
export interface SendFormValues {
  type: string;
  recipient: string;
  subject: string;
  message: string;
  priority: string;
  /** JSON text; empty for none. */
  metadata: string;
  /** The value of an <input type="datetime-local"> (local time, no zone); empty for now. */
  scheduledAt: string;
}

export type SendField = keyof SendFormValues;
export type FieldErrors = Partial<Record<SendField, string>>;

export type ValidationResult =
  | { ok: true; value: NotificationCreate; errors: FieldErrors }
  | { ok: false; errors: FieldErrors };

export const EMPTY_FORM: SendFormValues = {
  type: 'EMAIL',
  recipient: '',
  subject: '',
  message: '',
  priority: 'MEDIUM',
  metadata: '',
  scheduledAt: '',
};

/** Length in Unicode code points, as the API (Python) counts it. */
export function charCount(text: string): number {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}

export function recipientHint(type: string): string {
  switch (type) {
    case 'SMS':
      return 'E.164 phone number, e.g. +2348012345678';
    case 'PUSH':
      return 'Device token: 16-4096 characters of A-Z a-z 0-9 _ - : .';
    default:
      return 'E-mail address, e.g. user@example.com';
  }
}

export function validateRecipient(type: Channel, recipient: string): string | undefined {
  if (!recipient) return 'is required';
  if (recipient.includes('\0')) return 'must not contain NUL characters';
  if (type === 'EMAIL' && (recipient.length > 254 || !EMAIL_RE.test(recipient))) {
    return 'must be a valid e-mail address for EMAIL';
  }
  if (type === 'SMS' && !E164_RE.test(recipient)) {
    return 'must be an E.164 phone number (e.g. +2348012345678) for SMS';
  }
  if (type === 'PUSH' && !PUSH_TOKEN_RE.test(recipient)) {
    return 'must be a device token of 16-4096 characters [A-Za-z0-9_-:.] for PUSH';
  }
  return undefined;
}

function depth(value: unknown): number {
  if (Array.isArray(value)) return 1 + Math.max(0, ...value.map(depth));
  if (typeof value === 'object' && value !== null) {
    return 1 + Math.max(0, ...Object.values(value).map(depth));
  }
  return 0;
}

function keys(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => keys(v, out));
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      out.push(k);
      keys(v, out);
    }
  }
  return out;
}

/** Parses the metadata text: an object, or undefined for empty text. */
export function parseMetadata(
  text: string,
): { ok: true; value: Record<string, unknown> | undefined } | { ok: false; error: string } {
  if (!text.trim()) return { ok: true, value: undefined };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `is not valid JSON (${(err as Error).message})` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, error: 'must be a JSON object, e.g. {"userId": "12345"}' };
  }
  if (new TextEncoder().encode(JSON.stringify(value)).length > METADATA_MAX_BYTES) {
    return { ok: false, error: `must be at most ${METADATA_MAX_BYTES} bytes as JSON` };
  }
  if (depth(value) > METADATA_MAX_DEPTH) {
    return { ok: false, error: `must be at most ${METADATA_MAX_DEPTH} levels deep` };
  }
  if (keys(value).some((k) => k.startsWith('$') || k.includes('.') || k.includes('\0'))) {
    return { ok: false, error: "keys must not start with '$' or contain '.' or NUL" };
  }
  return { ok: true, value: value as Record<string, unknown> };
}

const LOCAL_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/;

/** `2030-01-01T09:30` (local wall time) -> Date, or null when not a real local time. */
export function parseLocalDateTime(text: string): Date | null {
  const m = LOCAL_RE.exec(text.trim());
  if (!m) return null;
  const num = (i: number) => Number(m[i] ?? 0);
  const [y, mo, d, h, mi, s] = [num(1), num(2), num(3), num(4), num(5), num(6)];
  const ms = Number((m[7] ?? '0').padEnd(3, '0'));
  if (h > 23 || mi > 59 || s > 59) return null;
  const date = new Date(y, mo - 1, d, h, mi, s, ms);
  // Reject impossible dates (31 February) that Date would roll over.
  if (date.getFullYear() !== y || date.getMonth() !== mo - 1 || date.getDate() !== d) return null;
  return Number.isNaN(date.getTime()) ? null : date;
}

const pad = (n: number, w = 2) => String(Math.abs(n)).padStart(w, '0');

/** ISO 8601 with the local offset, e.g. `2030-01-01T09:30:00.000+01:00`. */
export function toIsoWithOffset(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}` +
    `${sign}${pad(Math.trunc(offset / 60))}:${pad(offset % 60)}`
  );
}

/** Date -> the value format of <input type="datetime-local"> (minutes precision). */
export function toLocalInputValue(date: Date): string {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/**
 * Validates the form; on success returns the request body for POST /api/notifications.
 * `now` is injectable for tests.
 */
export function validateSendForm(form: SendFormValues, now: Date = new Date()): ValidationResult {
  const errors: FieldErrors = {};

  const type = form.type as Channel;
  if (!(CHANNELS as readonly string[]).includes(form.type)) errors.type = 'must be one of EMAIL, SMS, PUSH';

  const recipient = form.recipient.trim();
  if (!errors.type) {
    const e = validateRecipient(type, recipient);
    if (e) errors.recipient = e;
  } else if (!recipient) errors.recipient = 'is required';

  const subject = form.subject.trim();
  if (type === 'EMAIL') {
    if (!subject) errors.subject = 'is required for EMAIL';
    else if (charCount(subject) > SUBJECT_MAX) errors.subject = `must be at most ${SUBJECT_MAX} characters`;
    else if (subject.includes('\0')) errors.subject = 'must not contain NUL characters';
  }

  const message = form.message.trim();
  if (!message) errors.message = 'is required (at least 1 character)';
  else if (charCount(message) > MESSAGE_MAX) errors.message = `must be at most ${MESSAGE_MAX} characters`;
  else if (message.includes('\0')) errors.message = 'must not contain NUL characters';

  const priority = (form.priority || 'MEDIUM') as Priority;
  if (!(PRIORITIES as readonly string[]).includes(priority)) {
    errors.priority = 'must be one of LOW, MEDIUM, HIGH, CRITICAL';
  }

  const metadata = parseMetadata(form.metadata);
  if (!metadata.ok) errors.metadata = metadata.error;

  let scheduledAt: string | undefined;
  if (form.scheduledAt.trim()) {
    const when = parseLocalDateTime(form.scheduledAt);
    if (!when) errors.scheduledAt = 'is not a valid date and time';
    else if (when.getTime() <= now.getTime()) errors.scheduledAt = 'must be in the future';
    else if (when.getTime() - now.getTime() > SCHEDULE_MAX_AHEAD_MS) {
      errors.scheduledAt = 'must be at most 365 days ahead';
    } else scheduledAt = toIsoWithOffset(when);
  }

  if (Object.keys(errors).length > 0) return { ok: false, errors };

  const value: NotificationCreate = { type, recipient, message, priority };
  if (type === 'EMAIL') value.subject = subject;
  if (metadata.ok && metadata.value) value.metadata = metadata.value;
  if (scheduledAt) value.scheduledAt = scheduledAt;
  return { ok: true, value, errors };
}

/** The API's field paths ("recipient", "body.subject", "scheduledAt") mapped to form fields. */
export function apiFieldErrors(details: { field: string | null; message: string }[]): {
  fields: FieldErrors;
  other: string[];
} {
  const fields: FieldErrors = {};
  const other: string[] = [];
  const known = new Set<string>(Object.keys(EMPTY_FORM));
  for (const d of details) {
    const path = (d.field ?? '').replace(/^body\./, '');
    const head = path.split('.')[0] ?? '';
    if (known.has(head)) {
      const f = head as SendField;
      const msg = path === head ? d.message : `${path.slice(head.length + 1)}: ${d.message}`;
      fields[f] = fields[f] ? `${fields[f]}; ${msg}` : msg;
    } else other.push(path ? `${path}: ${d.message}` : d.message);
  }
  return { fields, other };
}
