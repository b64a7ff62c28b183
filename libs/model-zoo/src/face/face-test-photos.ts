// Shared by this folder's specs only (not exported from index.ts).
import { dirname, join } from 'node:path';

/**
 * A photo npm `@vladmandic/face-api` (MIT) ships in demo/ (sample1.jpg … sample6.jpg, 1920 px
 * wide, several people each); read from node_modules, not copied: the photos' own licence is
 * not stated.
 */
export function faceApiDemoPhoto(n: number): string {
  return join(
    dirname(require.resolve('@vladmandic/face-api/package.json')),
    'demo',
    `sample${n}.jpg`,
  );
}
