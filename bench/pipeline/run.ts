// `nx run pipeline-bench:bench`: speed of libs/pipeline's parts on this machine, printed as
// numbers (never asserted in tests). See README.md. Each section is a `BenchSection`; add new
// ones to SECTIONS. `BENCH_SECTIONS=encode,decode` runs a subset.
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSection } from './decode';
import { encodeSection } from './encode';
import { fullRenderSection } from './full-render';
import { renderSection } from './render';
import type { BenchSection } from './section';

const SECTIONS: readonly BenchSection[] = [
  encodeSection,
  decodeSection,
  renderSection,
  fullRenderSection,
];

async function main(): Promise<void> {
  const wanted = (process.env['BENCH_SECTIONS'] ?? '').split(',').filter(Boolean);
  const unknown = wanted.filter((name) => !SECTIONS.some((s) => s.name === name));
  if (unknown.length > 0) {
    throw new Error(
      `unknown BENCH_SECTIONS ${unknown.join(', ')}; known: ${SECTIONS.map((s) => s.name).join(', ')}`,
    );
  }
  const sections = wanted.length > 0 ? SECTIONS.filter((s) => wanted.includes(s.name)) : SECTIONS;
  console.log(
    `pipeline bench: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  let failed = false;
  for (const section of sections) {
    const workDir = await mkdtemp(join(tmpdir(), `likeness-bench-${section.name}-`));
    console.log(`\n== ${section.name}: ${section.title}`);
    try {
      const { lines, targetsMet } = await section.run({ workDir });
      for (const line of lines) console.log(`  ${line}`);
      if (!targetsMet) failed = true;
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  }
  console.log(
    `\nload average after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  if (failed) {
    console.log('some targets were missed (see above)');
    process.exitCode = 1;
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(2);
});
