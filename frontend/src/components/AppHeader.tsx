import { ApiKeyField } from './ApiKeyField';
import { LiveIndicator } from './LiveIndicator';
import { NavLinks } from './NavLinks';

export function AppHeader() {
  return (
    <header className="app-header">
      <div className="brand">
        <span className="brand-mark" aria-hidden="true">
          ≋
        </span>
        WaveCom Notify
      </div>
      <NavLinks />
      <div className="header-tools">
        <LiveIndicator />
        <ApiKeyField />
      </div>
    </header>
  );
}
