'use client';
import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { useSession } from '@/hooks/useSession';
import { hasScope, type Scope } from '@/lib/session';

const LINKS: { href: string; label: string; scope?: Scope }[] = [
  { href: '/', label: 'Overview' },
  { href: '/send/', label: 'Send' },
  { href: '/notifications/', label: 'Notifications' },
  { href: '/dead-letters/', label: 'Dead letters', scope: 'admin' },
  { href: '/providers/', label: 'Providers', scope: 'admin' },
  { href: '/burst/', label: 'Burst' },
];

function same(a: string, b: string): boolean {
  const norm = (p: string) => (p.endsWith('/') ? p : `${p}/`);
  return norm(a) === norm(b);
}

/** The pages, once signed in; those the key's scopes forbid entirely are left out. */
export function NavLinks() {
  const pathname = usePathname() ?? '/';
  const session = useSession();
  if (!session) return <div className="nav" />;
  return (
    <nav aria-label="Main" className="nav">
      {LINKS.filter((l) => !l.scope || hasScope(session, l.scope)).map((l) => (
        <Link key={l.href} href={l.href} aria-current={same(pathname, l.href) ? 'page' : undefined}>
          {l.label}
        </Link>
      ))}
    </nav>
  );
}
