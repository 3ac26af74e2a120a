import Link from 'next/link';

export default function NotFound() {
  return (
    <div className="stack">
      <h1>Page not found</h1>
      <p>
        Back to the <Link href="/">overview</Link>.
      </p>
    </div>
  );
}
