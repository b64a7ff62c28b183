import { createHash } from 'node:crypto';
import {
  API_KEY_PREFIX_LENGTH,
  generateApiKeySecret,
  hashApiKeySecret,
  isApiKeySecretFormat,
} from './api-key-secret';
import { deriveAppUrl } from './config';

it('makes lk_<env>_<8>_<32> secrets with a 16-character prefix and a sha256 hash', () => {
  const live = generateApiKeySecret('live');
  const test = generateApiKeySecret('test');
  expect(live.secret).toMatch(/^lk_live_[0-9A-Za-z]{8}_[0-9A-Za-z]{32}$/);
  expect(test.secret).toMatch(/^lk_test_[0-9A-Za-z]{8}_[0-9A-Za-z]{32}$/);
  expect(test.prefix).toBe(test.secret.slice(0, API_KEY_PREFIX_LENGTH));
  expect(test.prefix).toMatch(/^lk_test_[0-9A-Za-z]{8}$/);
  expect(test.secretHash).toBe(createHash('sha256').update(test.secret).digest('hex'));
  expect(hashApiKeySecret(test.secret)).toBe(test.secretHash);
  expect(isApiKeySecretFormat(test.secret)).toBe(true);
  expect(isApiKeySecretFormat(`${test.secret}x`)).toBe(false);
  expect(new Set(Array.from({ length: 100 }, () => generateApiKeySecret('test').secret)).size).toBe(
    100,
  );
});

it('derives the app URL from the owner URL', () => {
  expect(deriveAppUrl('postgresql://postgres@127.0.0.1:5432/likeness?sslmode=disable')).toBe(
    'postgresql://likeness_app:likeness_app@127.0.0.1:5432/likeness?sslmode=disable',
  );
  expect(deriveAppUrl('postgresql://o:p@h/db', 'p@ss word')).toBe(
    'postgresql://likeness_app:p%40ss%20word@h/db',
  );
});
