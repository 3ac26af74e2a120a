'use client';
import { useScope } from '@/hooks/useSession';
import { LiveIndicator } from './LiveIndicator';
import { SessionBar } from './SessionBar';

export function HeaderTools() {
  const canRead = useScope('read');
  return (
    <div className="header-tools">
      {canRead ? <LiveIndicator /> : null}
      <SessionBar />
    </div>
  );
}
