import { HeaderTools } from './HeaderTools';
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
      <HeaderTools />
    </header>
  );
}
