import { formatNumber } from '@/lib/format';
import { backlogOf } from '@/lib/stats';

export function BacklogTable({ queueDepth }: { queueDepth: Record<string, number> | undefined }) {
  const b = backlogOf(queueDepth ?? {});
  return (
    <section aria-labelledby="backlog-title" className="card">
      <h2 id="backlog-title">Backlog</h2>
      {!queueDepth ? (
        <p className="muted">Waiting for the first sample…</p>
      ) : (
        <>
          <div className="table-wrap">
            <table className="table compact">
              <thead>
                <tr>
                  <th scope="col">Channel</th>
                  {b.lanes.map((l) => (
                    <th scope="col" key={l} className="num">
                      {l}
                    </th>
                  ))}
                  <th scope="col" className="num">
                    Total
                  </th>
                </tr>
              </thead>
              <tbody>
                {b.rows.map((r) => (
                  <tr key={r.channel}>
                    <th scope="row">{r.channel.toUpperCase()}</th>
                    {b.lanes.map((l) => (
                      <td key={l} className="num" data-testid={`depth-${r.channel}-${l}`}>
                        {formatNumber(r.lanes[l] ?? 0)}
                      </td>
                    ))}
                    <td className="num">{formatNumber(r.total)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <dl className="inline-stats">
            <div>
              <dt>Retry (delayed)</dt>
              <dd data-testid="depth-retry">{formatNumber(b.retry)}</dd>
            </div>
            <div>
              <dt>Dead letters</dt>
              <dd data-testid="depth-dlq">{formatNumber(b.dlq)}</dd>
            </div>
            {Object.entries(b.other).map(([k, v]) => (
              <div key={k}>
                <dt>{k}</dt>
                <dd>{formatNumber(v)}</dd>
              </div>
            ))}
          </dl>
        </>
      )}
    </section>
  );
}
