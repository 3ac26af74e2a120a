/** A labelled <select> with an "any" option. */
export function SelectField({
  id,
  label,
  value,
  options,
  anyLabel = 'Any',
  onChange,
}: {
  id: string;
  label: string;
  value: string;
  options: readonly string[];
  anyLabel?: string;
  onChange: (value: string) => void;
}) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">{anyLabel}</option>
        {options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    </div>
  );
}
