import type { ReactNode } from 'react';

export interface FieldAria {
  id: string;
  'aria-describedby'?: string;
  'aria-invalid'?: boolean;
}

/** A label, one control, an optional hint and the field's error (client or API). */
export function FormField({
  id,
  label,
  hint,
  error,
  extra,
  children,
}: {
  id: string;
  label: string;
  hint?: ReactNode;
  error?: string;
  extra?: ReactNode;
  children: (aria: FieldAria) => ReactNode;
}) {
  const described = [hint ? `${id}-hint` : null, error ? `${id}-error` : null].filter(Boolean).join(' ');
  return (
    <div className={`field${error ? ' field-invalid' : ''}`}>
      <div className="field-label">
        <label htmlFor={id}>{label}</label>
        {extra}
      </div>
      {children({ id, 'aria-describedby': described || undefined, 'aria-invalid': error ? true : undefined })}
      {hint ? (
        <div className="hint" id={`${id}-hint`}>
          {hint}
        </div>
      ) : null}
      {error ? (
        <div className="field-error" id={`${id}-error`} data-testid={`error-${id}`}>
          {error}
        </div>
      ) : null}
    </div>
  );
}
