import { describe, expect, it } from 'vitest';
import {
  apiFieldErrors,
  charCount,
  EMPTY_FORM,
  parseLocalDateTime,
  parseMetadata,
  toIsoWithOffset,
  validateRecipient,
  validateSendForm,
  type SendFormValues,
} from '@/lib/validation';

const NOW = new Date(2030, 0, 15, 12, 0, 0); // local time
const form = (over: Partial<SendFormValues>): SendFormValues => ({
  ...EMPTY_FORM,
  recipient: 'user@example.com',
  subject: 'Hello',
  message: 'Body',
  ...over,
});

describe('validateRecipient', () => {
  it.each([
    ['EMAIL', 'user@example.com', true],
    ['EMAIL', 'first.last+tag@sub.example.co.uk', true],
    ['EMAIL', 'user@localhost', false],
    ['EMAIL', 'not-an-email', false],
    ['EMAIL', `${'a'.repeat(65)}@example.com`, false],
    ['SMS', '+2348012345678', true],
    ['SMS', '2348012345678', false],
    ['SMS', '+0348012345678', false],
    ['SMS', '+12345', false],
    ['SMS', '+1234567890123456', false],
    ['PUSH', 'abcdefghijklmnop', true],
    ['PUSH', 'fcm:APA91b_x-y.z:0123', true],
    ['PUSH', 'short-token', false],
    ['PUSH', 'has space in token here', false],
    ['PUSH', 'a'.repeat(4097), false],
  ] as const)('%s %s -> %s', (type, recipient, ok) => {
    expect(validateRecipient(type, recipient) === undefined).toBe(ok);
  });

  it('requires a recipient', () => {
    expect(validateRecipient('SMS', '')).toBe('is required');
  });
});

describe('validateSendForm', () => {
  it('accepts a valid e-mail and builds the request body', () => {
    const r = validateSendForm(form({ metadata: '{"userId": "12345"}', priority: 'HIGH' }), NOW);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value).toEqual({
      type: 'EMAIL',
      recipient: 'user@example.com',
      subject: 'Hello',
      message: 'Body',
      priority: 'HIGH',
      metadata: { userId: '12345' },
    });
  });

  it('requires a subject for EMAIL only and drops it for other channels', () => {
    const email = validateSendForm(form({ subject: '  ' }), NOW);
    expect(email.ok).toBe(false);
    expect(email.errors.subject).toMatch(/required for EMAIL/);
    const sms = validateSendForm(form({ type: 'SMS', recipient: '+2348012345678', subject: 'ignored' }), NOW);
    expect(sms.ok).toBe(true);
    if (sms.ok) expect(sms.value.subject).toBeUndefined();
  });

  it('checks the recipient against the channel', () => {
    const r = validateSendForm(form({ type: 'SMS', recipient: 'user@example.com' }), NOW);
    expect(r.errors.recipient).toMatch(/E\.164/);
  });

  it('limits the message to 1..5000 characters (code points) after trimming', () => {
    expect(validateSendForm(form({ message: '   ' }), NOW).errors.message).toMatch(/required/);
    expect(validateSendForm(form({ message: 'x'.repeat(5000) }), NOW).ok).toBe(true);
    expect(validateSendForm(form({ message: 'x'.repeat(5001) }), NOW).errors.message).toMatch(/5000/);
    // 5000 emoji are 10000 UTF-16 units but 5000 characters for the API.
    expect(validateSendForm(form({ message: '😀'.repeat(5000) }), NOW).ok).toBe(true);
    expect(charCount('😀a')).toBe(2);
  });

  it('rejects unknown type and priority', () => {
    const r = validateSendForm(form({ type: 'FAX', priority: 'URGENT' }), NOW);
    expect(r.errors.type).toBeDefined();
    expect(r.errors.priority).toBeDefined();
  });

  it('defaults the priority to MEDIUM', () => {
    const r = validateSendForm(form({ priority: '' }), NOW);
    expect(r.ok && r.value.priority).toBe('MEDIUM');
  });

  it('requires a future schedule within a year and sends it as ISO with a zone', () => {
    expect(validateSendForm(form({ scheduledAt: '2030-01-15T11:59' }), NOW).errors.scheduledAt).toMatch(/future/);
    expect(validateSendForm(form({ scheduledAt: '2031-02-01T00:00' }), NOW).errors.scheduledAt).toMatch(/365/);
    expect(validateSendForm(form({ scheduledAt: 'tomorrow' }), NOW).errors.scheduledAt).toMatch(/valid/);
    const r = validateSendForm(form({ scheduledAt: '2030-01-15T13:30' }), NOW);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.scheduledAt).toMatch(/^2030-01-15T13:30:00\.000[+-]\d{2}:\d{2}$/);
    expect(new Date(r.value.scheduledAt!).getTime()).toBe(new Date(2030, 0, 15, 13, 30).getTime());
  });
});

describe('parseMetadata', () => {
  it('accepts empty text and objects', () => {
    expect(parseMetadata('')).toEqual({ ok: true, value: undefined });
    expect(parseMetadata('{"a": {"b": [1, 2]}}')).toEqual({ ok: true, value: { a: { b: [1, 2] } } });
  });
  it.each([
    ['[1, 2]', /object/],
    ['"text"', /object/],
    ['null', /object/],
    ['{bad json}', /not valid JSON/],
    ['{"$where": 1}', /keys/],
    ['{"a.b": 1}', /keys/],
    ['{"a":{"b":{"c":{"d":{"e":{"f":1}}}}}}', /levels/],
    [JSON.stringify({ big: 'x'.repeat(9000) }), /bytes/],
  ])('rejects %s', (text, message) => {
    const r = parseMetadata(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(message);
  });
});

describe('dates', () => {
  it('parses datetime-local values and rejects impossible dates', () => {
    expect(parseLocalDateTime('2030-02-03T04:05')?.getTime()).toBe(new Date(2030, 1, 3, 4, 5).getTime());
    expect(parseLocalDateTime('2030-02-03T04:05:06.5')?.getMilliseconds()).toBe(500);
    expect(parseLocalDateTime('2030-02-30T04:05')).toBeNull();
    expect(parseLocalDateTime('2030-02-03T25:00')).toBeNull();
    expect(parseLocalDateTime('')).toBeNull();
  });
  it('formats with the local offset, same instant', () => {
    const d = new Date(Date.UTC(2030, 5, 1, 12, 0, 0));
    const iso = toIsoWithOffset(d);
    expect(iso).toMatch(/[+-]\d{2}:\d{2}$/);
    expect(new Date(iso).getTime()).toBe(d.getTime());
  });
});

describe('apiFieldErrors', () => {
  it('maps API field paths to form fields', () => {
    const r = apiFieldErrors([
      { field: 'recipient', message: 'must be a valid e-mail address for EMAIL' },
      { field: 'metadata.a', message: 'bad' },
      { field: 'body.subject', message: 'is required for EMAIL' },
      { field: 'extra', message: 'is not a known field' },
      { field: null, message: 'Body too large' },
    ]);
    expect(r.fields).toEqual({
      recipient: 'must be a valid e-mail address for EMAIL',
      metadata: 'a: bad',
      subject: 'is required for EMAIL',
    });
    expect(r.other).toEqual(['extra: is not a known field', 'Body too large']);
  });
});
