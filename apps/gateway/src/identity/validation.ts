import type { z } from 'zod';
import { BadUserInputException } from '../errors/likeness.exception';

/**
 * Parses `value` with `schema`; the first problem becomes BAD_USER_INPUT naming the field (the
 * issue's path, e.g. `slug`; `input` when the object as a whole is wrong).
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : 'input';
  throw new BadUserInputException(field, `${field}: ${issue?.message ?? 'is invalid'}`);
}
