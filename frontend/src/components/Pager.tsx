import { formatNumber } from '@/lib/format';
import type { Pagination } from '@/lib/types';

export function Pager({ pagination, onPage }: { pagination: Pagination | null; onPage: (page: number) => void }) {
  if (!pagination) return null;
  const { currentPage, totalPages, totalItems, totalItemsExact } = pagination;
  // a count that stopped at its cap: more pages may follow the ones it covers
  const more = totalItemsExact === false ? '+' : '';
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" onClick={() => onPage(currentPage - 1)} disabled={currentPage <= 1}>
        ← Previous
      </button>
      <span data-testid="pager-status">
        Page {formatNumber(currentPage)} of {formatNumber(Math.max(1, totalPages))}
        {more} · {formatNumber(totalItems)}
        {more} items
      </span>
      <button type="button" onClick={() => onPage(currentPage + 1)} disabled={!more && currentPage >= totalPages}>
        Next →
      </button>
    </nav>
  );
}
