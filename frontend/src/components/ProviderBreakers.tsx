import type { ProviderState } from '@/lib/types';

export function ProviderBreakers({ providers }: { providers: Record<string, ProviderState> | undefined }) {
  const entries = Object.entries(providers ?? {}).sort(
    ([a, pa], [b, pb]) => pa.channel.localeCompare(pb.channel) || a.localeCompare(b),
  );
  return (
    <section aria-labelledby="providers-title" className="card">
      <h2 id="providers-title">Provider circuit breakers</h2>
      {entries.length === 0 ? (
        <p className="muted" data-testid="providers-unknown">
          Breaker state: <span className="breaker breaker-unknown">unknown</span> (the API does not report
          providers yet)
        </p>
      ) : (
        <ul className="breakers">
          {entries.map(([name, p]) => (
            <li key={name}>
              <span className="provider-name">{name}</span> <span className="muted">{p.channel}</span>{' '}
              <span className={`breaker breaker-${p.state ?? 'unknown'}`} data-testid={`breaker-${name}`}>
                {p.state ?? 'unknown'}
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
