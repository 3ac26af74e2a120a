import type { ReactNode } from 'react';

/** A definition list of label/value pairs; empty values are left out. */
export function DetailList({ rows }: { rows: [label: string, value: ReactNode, testId?: string][] }) {
  return (
    <dl className="details">
      {rows
        .filter(([, v]) => v !== undefined && v !== null && v !== '')
        .map(([label, value, testId]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd data-testid={testId}>{value}</dd>
          </div>
        ))}
    </dl>
  );
}
