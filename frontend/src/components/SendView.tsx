'use client';
import { useRouter } from 'next/navigation';
import { useEffect, useState, type FormEvent } from 'react';
import { useScope } from '@/hooks/useSession';
import { api, ApiError, errorMessage } from '@/lib/api';
import { CHANNELS, PRIORITIES } from '@/lib/types';
import {
  apiFieldErrors,
  charCount,
  EMPTY_FORM,
  MESSAGE_MAX,
  recipientHint,
  toLocalInputValue,
  validateSendForm,
  type FieldErrors,
  type SendField,
  type SendFormValues,
} from '@/lib/validation';
import { ErrorBanner } from './ErrorBanner';
import { FormField } from './FormField';
import { ScopeNotice } from './ScopeNotice';

const PLACEHOLDER: Record<string, string> = {
  EMAIL: 'user@example.com',
  SMS: '+2348012345678',
  PUSH: 'device-token-0123456789abcdef',
};

const ORDER: SendField[] = ['type', 'recipient', 'subject', 'message', 'priority', 'metadata', 'scheduledAt'];

export function SendView() {
  const router = useRouter();
  const [form, setForm] = useState<SendFormValues>(EMPTY_FORM);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [serverErrors, setServerErrors] = useState<FieldErrors>({});
  const [topError, setTopError] = useState<string | null>(null);
  const [submitting, setSubmitting] = useState(false);
  const canSend = useScope('send');
  // Set after mount: the pre-rendered HTML must not depend on the build's clock.
  const [minTime, setMinTime] = useState<string | undefined>(undefined);
  useEffect(() => setMinTime(toLocalInputValue(new Date())), []);

  const set = (field: SendField, value: string) => {
    setForm((f) => ({ ...f, [field]: value }));
    setErrors((e) => ({ ...e, [field]: undefined }));
    setServerErrors((e) => ({ ...e, [field]: undefined }));
  };
  const errorOf = (field: SendField) => errors[field] ?? serverErrors[field];

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!canSend) return;
    setTopError(null);
    setServerErrors({});
    const result = validateSendForm(form);
    setErrors(result.errors);
    if (!result.ok) {
      const first = ORDER.find((f) => result.errors[f]);
      if (first) document.getElementById(`send-${first}`)?.focus();
      return;
    }
    setSubmitting(true);
    try {
      const created = await api.createNotification(result.value);
      router.push(`/notification/?id=${encodeURIComponent(created._id)}`);
    } catch (err) {
      setSubmitting(false);
      if (err instanceof ApiError && err.details.length > 0) {
        const { fields, other } = apiFieldErrors(err.details);
        setServerErrors(fields);
        setTopError(other.length ? `${err.message} — ${other.join('; ')}` : `The API rejected the notification (${err.code}); see the fields below.`);
      } else setTopError(errorMessage(err));
    }
  };

  const count = charCount(form.message);
  return (
    <div className="stack narrow-page">
      <h1>Send a notification</h1>
      {canSend ? null : <ScopeNotice scope="send" what="Sending" />}
      <ErrorBanner error={topError} />
      <form className="card form" onSubmit={submit} noValidate aria-label="Send a notification">
        <div className="field-row">
          <FormField id="send-type" label="Channel" error={errorOf('type')}>
            {(aria) => (
              <select {...aria} value={form.type} onChange={(e) => set('type', e.target.value)}>
                {CHANNELS.map((c) => (
                  <option key={c} value={c}>
                    {c}
                  </option>
                ))}
              </select>
            )}
          </FormField>
          <FormField id="send-priority" label="Priority" error={errorOf('priority')}>
            {(aria) => (
              <select {...aria} value={form.priority} onChange={(e) => set('priority', e.target.value)}>
                {PRIORITIES.map((p) => (
                  <option key={p} value={p}>
                    {p}
                  </option>
                ))}
              </select>
            )}
          </FormField>
        </div>
        <FormField id="send-recipient" label="Recipient" hint={recipientHint(form.type)} error={errorOf('recipient')}>
          {(aria) => (
            <input
              {...aria}
              type="text"
              inputMode={form.type === 'EMAIL' ? 'email' : form.type === 'SMS' ? 'tel' : 'text'}
              autoComplete="off"
              spellCheck={false}
              placeholder={PLACEHOLDER[form.type]}
              value={form.recipient}
              onChange={(e) => set('recipient', e.target.value)}
            />
          )}
        </FormField>
        {form.type === 'EMAIL' ? (
          <FormField id="send-subject" label="Subject" hint="Required for EMAIL" error={errorOf('subject')}>
            {(aria) => (
              <input {...aria} type="text" value={form.subject} maxLength={998} onChange={(e) => set('subject', e.target.value)} />
            )}
          </FormField>
        ) : null}
        <FormField
          id="send-message"
          label="Message"
          error={errorOf('message')}
          extra={
            <span className={`counter-text${count > MESSAGE_MAX ? ' over' : ''}`} data-testid="message-count" aria-live="polite">
              {count} / {MESSAGE_MAX}
            </span>
          }
        >
          {(aria) => <textarea {...aria} rows={5} value={form.message} onChange={(e) => set('message', e.target.value)} />}
        </FormField>
        <FormField
          id="send-metadata"
          label="Metadata (JSON object, optional)"
          hint='e.g. {"userId": "12345", "campaign": "onboarding"}'
          error={errorOf('metadata')}
        >
          {(aria) => (
            <textarea
              {...aria}
              rows={3}
              className="mono"
              spellCheck={false}
              value={form.metadata}
              onChange={(e) => set('metadata', e.target.value)}
            />
          )}
        </FormField>
        <FormField
          id="send-scheduledAt"
          label="Scheduled time (optional, your local time)"
          hint="Leave empty to send now. Must be in the future, at most a year ahead."
          error={errorOf('scheduledAt')}
        >
          {(aria) => (
            <input
              {...aria}
              type="datetime-local"
              min={minTime}
              value={form.scheduledAt}
              onChange={(e) => set('scheduledAt', e.target.value)}
            />
          )}
        </FormField>
        <div className="actions">
          <button type="submit" className="primary" disabled={submitting || !canSend}>
            {submitting ? 'Sending…' : form.scheduledAt ? 'Schedule' : 'Send'}
          </button>
          <button
            type="button"
            onClick={() => {
              setForm(EMPTY_FORM);
              setErrors({});
              setServerErrors({});
              setTopError(null);
            }}
            disabled={submitting}
          >
            Reset
          </button>
        </div>
      </form>
    </div>
  );
}
