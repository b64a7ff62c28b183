import { useState } from 'react';
import type { FormEvent } from 'react';
import { ApiError } from './api';

export interface SignInFormProps {
  /** Resolves once signed in; rejects with an ApiError to show. */
  onSignIn(email: string, password: string): Promise<void>;
}

export function SignInForm({ onSignIn }: SignInFormProps) {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(form: HTMLFormElement): Promise<void> {
    const data = new FormData(form);
    setPending(true);
    setError(null);
    try {
      await onSignIn(String(data.get('email') ?? ''), String(data.get('password') ?? ''));
    } catch (e) {
      setError(messageOf(e));
      setPending(false);
    }
  }

  return (
    <form
      className="card sign-in"
      aria-labelledby="sign-in-title"
      onSubmit={(event: FormEvent<HTMLFormElement>) => {
        event.preventDefault();
        void submit(event.currentTarget);
      }}
    >
      <h1 id="sign-in-title">Sign in</h1>
      <label>
        Email
        <input name="email" type="email" autoComplete="username" required />
      </label>
      <label>
        Password
        <input name="password" type="password" autoComplete="current-password" required />
      </label>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" disabled={pending}>
        {pending ? 'Signing in…' : 'Sign in'}
      </button>
    </form>
  );
}

function messageOf(error: unknown): string {
  if (error instanceof ApiError) {
    return error.code === 'UNAUTHENTICATED'
      ? 'Wrong email or password.'
      : `${error.message} (${error.code})`;
  }
  return 'Something went wrong. Try again.';
}
