import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** One weight of a TensorFlow.js weights manifest (`*-weights_manifest.json`). */
interface ManifestWeight {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number };
}

interface ManifestGroup {
  paths: string[];
  weights: ManifestWeight[];
}

export interface DecodedWeight {
  shape: number[];
  data: Float32Array;
}

/**
 * Reads a TensorFlow.js weights manifest and its shard files and decodes every weight to float32,
 * as `tf.io.decodeWeights` does: affine-quantized uint8/uint16 values become `q · scale + min`.
 */
export async function readTfjsWeights(manifestFile: string): Promise<Map<string, DecodedWeight>> {
  const groups = JSON.parse(await readFile(manifestFile, 'utf8')) as ManifestGroup[];
  const weights = new Map<string, DecodedWeight>();
  for (const group of groups) {
    const shards = await Promise.all(
      group.paths.map((p) => readFile(join(dirname(manifestFile), p))),
    );
    const buffer = Buffer.concat(shards);
    let offset = 0;
    for (const w of group.weights) {
      const size = w.shape.reduce((a, b) => a * b, 1);
      if (w.dtype !== 'float32') throw new Error(`weight ${w.name}: dtype ${w.dtype} unsupported`);
      const data = new Float32Array(size);
      const q = w.quantization;
      const width = !q ? 4 : q.dtype === 'uint8' ? 1 : q.dtype === 'uint16' ? 2 : 0;
      if (offset + width * size > buffer.length) {
        throw new Error(`weight ${w.name} runs past the end of the weight files`);
      }
      if (!q) {
        for (let k = 0; k < size; k++) data[k] = buffer.readFloatLE(offset + 4 * k);
        offset += 4 * size;
      } else if ((q.dtype === 'uint8' || q.dtype === 'uint16') && q.scale !== undefined) {
        const bytes = q.dtype === 'uint8' ? 1 : 2;
        const min = q.min ?? 0;
        for (let k = 0; k < size; k++) {
          const v =
            bytes === 1 ? buffer.readUInt8(offset + k) : buffer.readUInt16LE(offset + 2 * k);
          data[k] = v * q.scale + min;
        }
        offset += bytes * size;
      } else {
        throw new Error(`weight ${w.name}: quantization ${q.dtype} unsupported`);
      }
      weights.set(w.name, { shape: w.shape, data });
    }
    if (offset !== buffer.length) {
      throw new Error(
        `${manifestFile}: ${buffer.length - offset} bytes left after the last weight`,
      );
    }
  }
  return weights;
}
