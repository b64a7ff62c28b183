import { useEffect, useState } from 'react';
import { ApiError } from './api';
import type { AdminApi, Session, Viewer } from './api';

type Load =
  | { readonly state: 'loading' }
  | { readonly state: 'ready'; readonly viewer: Viewer }
  | { readonly state: 'failed'; readonly error: string };

export interface PlatformStatusProps {
  readonly api: AdminApi;
  readonly session: Session;
  /** Called when the token is no longer accepted, so the app can ask to sign in again. */
  onUnauthenticated(): void;
}

export function PlatformStatus({ api, session, onUnauthenticated }: PlatformStatusProps) {
  const [load, setLoad] = useState<Load>({ state: 'loading' });

  useEffect(() => {
    let current = true;
    api.viewer().then(
      (viewer) => {
        if (current) setLoad({ state: 'ready', viewer });
      },
      (error: unknown) => {
        if (!current) return;
        if (error instanceof ApiError && error.code === 'UNAUTHENTICATED') onUnauthenticated();
        else
          setLoad({
            state: 'failed',
            error:
              error instanceof ApiError
                ? `${error.message} (${error.code})`
                : 'Could not load the status.',
          });
      },
    );
    return () => {
      current = false;
    };
  }, [api, session.token, onUnauthenticated]);

  return (
    <section className="card" aria-labelledby="status-title">
      <h1 id="status-title">Platform status</h1>
      {load.state === 'loading' && <p className="muted">Loading…</p>}
      {load.state === 'failed' && (
        <p className="error" role="alert">
          {load.error}
        </p>
      )}
      {load.state === 'ready' && <ViewerDetails viewer={load.viewer} session={session} />}
    </section>
  );
}

export function ViewerDetails({
  viewer,
  session,
}: {
  readonly viewer: Viewer;
  readonly session: Session;
}) {
  return (
    <dl className="details">
      <dt>Signed in as</dt>
      <dd>
        {session.user.email} ({session.user.role})
      </dd>
      <dt>Viewer kind</dt>
      <dd>{viewer.kind}</dd>
      <dt>Tenant</dt>
      <dd>
        {viewer.tenant
          ? `${viewer.tenant.name} (${viewer.tenant.id})`
          : 'None: platform-wide access'}
      </dd>
      {viewer.tenant && (
        <>
          <dt>Plan</dt>
          <dd>{viewer.tenant.plan}</dd>
          <dt>Status</dt>
          <dd>{viewer.tenant.status}</dd>
        </>
      )}
    </dl>
  );
}
