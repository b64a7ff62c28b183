import { useCallback, useState } from 'react';
import type { AdminApi, Session } from './api';
import { PlatformStatus } from './PlatformStatus';
import { SignInForm } from './SignInForm';

export interface AppProps {
  readonly api: AdminApi;
}

/** Signed out: the sign-in form. Signed in: the platform status page. */
export function App({ api }: AppProps) {
  const [session, setSession] = useState<Session | null>(() => api.session());

  const signIn = useCallback(
    async (email: string, password: string) => setSession(await api.login(email, password)),
    [api],
  );
  const signOut = useCallback(() => {
    api.logout();
    setSession(null);
  }, [api]);

  return (
    <div className="shell">
      <header className="topbar">
        <span className="brand">Likeness admin</span>
        {session && (
          <span className="who">
            {session.user.email} · {session.user.role}
            <button type="button" className="link" onClick={signOut}>
              Sign out
            </button>
          </span>
        )}
      </header>
      <main>
        {session ? (
          <PlatformStatus api={api} session={session} onUnauthenticated={signOut} />
        ) : (
          <SignInForm onSignIn={signIn} />
        )}
      </main>
    </div>
  );
}
