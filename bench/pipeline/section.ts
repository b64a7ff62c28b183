/** One part of the pipeline benchmark (see run.ts). */
export interface BenchSection {
  /** Short id for BENCH_SECTIONS. */
  name: string;
  title: string;
  /** Runs in its own temporary folder (removed afterwards); returns the lines to print. */
  run(context: { workDir: string }): Promise<{ lines: string[]; targetsMet: boolean }>;
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A positive integer from the environment, or `fallback`. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1)
    throw new Error(`${name} must be a positive integer, got ${raw}`);
  return value;
}
