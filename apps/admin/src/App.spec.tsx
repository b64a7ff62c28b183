import { renderToString } from 'react-dom/server';
import type { AdminApi, Session, Viewer } from './api';
import { App } from './App';
import { ViewerDetails } from './PlatformStatus';
import { SignInForm } from './SignInForm';

const session: Session = {
  token: 'sess_1',
  user: { email: 'ops@likeness.dev', role: 'PLATFORM_ADMIN' },
};

/** A strict fake: rendering must not call the network; effects do not run on the server. */
function fakeApi(current: Session | null): AdminApi {
  const unexpected = (name: string) => () => {
    throw new Error(`unexpected call to ${name}`);
  };
  return {
    session: () => current,
    login: unexpected('login'),
    viewer: unexpected('viewer'),
    logout: unexpected('logout'),
  };
}

/** The attributes of the `<input name=…>` in the markup, whatever their order. */
function inputNamed(html: string, name: string): Record<string, string> | undefined {
  for (const [tag] of html.matchAll(/<input\b[^>]*>/g)) {
    const attributes = Object.fromEntries(
      [...tag.matchAll(/([\w-]+)="([^"]*)"/g)].map(([, key, value]) => [key?.toLowerCase(), value]),
    );
    if (attributes['name'] === name) return attributes;
  }
  return undefined;
}

describe('App (server-rendered)', () => {
  it('shows the sign-in form with email and password fields when signed out', () => {
    const html = renderToString(<App api={fakeApi(null)} />);
    expect(html).toMatch(/<form[^>]*class="card sign-in"/);
    expect(inputNamed(html, 'email')).toMatchObject({
      type: 'email',
      required: '',
      autocomplete: 'username',
    });
    expect(inputNamed(html, 'password')).toMatchObject({
      type: 'password',
      required: '',
      autocomplete: 'current-password',
    });
    expect(html).toMatch(/<button type="submit"[^>]*>Sign in<\/button>/);
    expect(html).not.toContain('Platform status');
  });

  it('shows the platform status page, loading, when a session exists', () => {
    const html = renderToString(<App api={fakeApi(session)} />);
    expect(html).toContain('Platform status');
    expect(html).toContain('Loading…');
    expect(html).toContain('ops@likeness.dev');
    expect(html).toContain('Sign out');
    expect(inputNamed(html, 'password')).toBeUndefined();
  });
});

describe('SignInForm', () => {
  it('renders labelled fields', () => {
    const html = renderToString(<SignInForm onSignIn={() => Promise.resolve()} />);
    expect(html).toMatch(/<label>Email<input/);
    expect(html).toMatch(/<label>Password<input/);
  });
});

describe('ViewerDetails', () => {
  it('shows the viewer, its tenant and plan', () => {
    const viewer: Viewer = {
      kind: 'USER',
      tenant: { id: 'ten_1', name: 'Acme Studios', plan: 'PRO', status: 'ACTIVE' },
    };
    const html = renderToString(<ViewerDetails viewer={viewer} session={session} />);
    expect(html).toContain('USER');
    expect(html).toContain('Acme Studios (ten_1)');
    expect(html).toContain('PRO');
    expect(html).toContain('ACTIVE');
  });

  it('says when the viewer has no tenant', () => {
    const html = renderToString(
      <ViewerDetails viewer={{ kind: 'USER', tenant: null }} session={session} />,
    );
    expect(html).toContain('None: platform-wide access');
    expect(html).not.toContain('Plan');
  });
});
