import { formatTime } from '@/lib/format';
import { groupByChannel, settingsLabel, type ProviderRow } from '@/lib/providers';

const COLUMNS = 11;

/** The provider accounts, one row group per channel, rows in the order they are tried. */
export function ProviderTable({ rows }: { rows: readonly ProviderRow[] }) {
  const groups = groupByChannel(rows);
  return (
    <div className="table-wrap">
      <table className="table compact providers-table" data-testid="providers-table">
        <caption className="sr-only">
          Provider accounts by channel; within a channel the lowest priority is tried first
        </caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Channel</th>
            <th scope="col">Driver</th>
            <th scope="col" className="num">
              Priority
            </th>
            <th scope="col">Enabled</th>
            <th scope="col" className="num">
              Rate cap
            </th>
            <th scope="col">Tenants</th>
            <th scope="col">Credentials</th>
            <th scope="col">Breaker</th>
            <th scope="col">Managed by</th>
            <th scope="col" className="num">
              Revision
            </th>
          </tr>
        </thead>
        {groups.map((g) => (
          <tbody key={g.channel} data-channel={g.channel}>
            <tr className="group-row">
              <th scope="rowgroup" colSpan={COLUMNS} id={`providers-group-${g.channel}`}>
                {g.channel}{' '}
                <span className="small">
                  · {g.rows.length} account{g.rows.length === 1 ? '' : 's'}, tried lowest priority first
                </span>
              </th>
            </tr>
            {g.rows.map((r) => (
              <tr key={r.name} data-provider={r.name} className={r.enabled ? undefined : 'row-disabled'}>
                <th scope="row" className="provider-name ellipsis" title={r.name}>
                  {r.name}
                </th>
                <td>{r.channel}</td>
                <td className="wrap">
                  {r.driver}
                  {r.settingsCount > 0 ? <span className="small sub">{settingsLabel(r.settingsCount)}</span> : null}
                </td>
                <td className="num">{r.priority}</td>
                <td>
                  <span className={`badge ${r.enabled ? 'badge-enabled' : 'badge-disabled'}`} data-testid={`provider-enabled-${r.name}`}>
                    {r.enabled ? 'enabled' : 'disabled'}
                  </span>
                </td>
                <td className="num">{r.rateCap}</td>
                <td className="wrap" title={r.tenants}>
                  {r.tenants}
                </td>
                <td>
                  <span title={r.secretName ? `from the Secret ${r.secretName}` : undefined}>{r.credentials}</span>
                </td>
                <td>
                  <span
                    className={`breaker breaker-${r.breaker?.state ?? 'none'}`}
                    data-testid={`provider-breaker-${r.name}`}
                    data-state={r.breaker?.state ?? 'none'}
                    aria-label={`Breaker of ${r.name}: ${r.breakerLabel}`}
                  >
                    {r.breakerLabel}
                  </span>
                </td>
                <td className="wrap" title={r.source.raw}>
                  {r.source.text}
                  {r.source.detail ? <span className="small sub break">{r.source.detail}</span> : null}
                </td>
                <td className="num" title={r.updatedAt ? `updated ${formatTime(r.updatedAt)}` : undefined}>
                  {r.revision}
                </td>
              </tr>
            ))}
          </tbody>
        ))}
      </table>
    </div>
  );
}
