import { LikenessException } from '../errors/likeness.exception';
import { detectFormat, SNIFF_BYTES, sniffed, type MediaFormat } from './sniff';

const bytes = (...parts: (string | number[])[]): Buffer =>
  Buffer.concat(
    parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))),
  );

const u32be = (n: number): number[] => [
  (n >>> 24) & 255,
  (n >>> 16) & 255,
  (n >>> 8) & 255,
  n & 255,
];

/** An ftyp box with a major brand and compatible brands. */
const ftyp = (major: string, ...compatible: string[]): Buffer =>
  bytes(u32be(16 + 4 * compatible.length), 'ftyp', major, [0, 0, 2, 0], ...compatible);

/** The first Ogg page header (27 bytes, one segment) followed by a packet. */
const oggPage = (packet: string | number[]): Buffer =>
  bytes('OggS', [0, 2], new Array<number>(20).fill(0), [1, 19], packet);

describe('detectFormat', () => {
  it.each<[string, Buffer, MediaFormat | null]>([
    ['JPEG', bytes([0xff, 0xd8, 0xff, 0xe0]), 'jpeg'],
    ['PNG', bytes([0x89], 'PNG\r\n\x1a\n', [0, 0, 0, 13]), 'png'],
    ['WebP', bytes('RIFF', [1, 2, 3, 4], 'WEBPVP8 '), 'webp'],
    ['WAV', bytes('RIFF', [1, 2, 3, 4], 'WAVEfmt '), 'wav'],
    ['FLAC', bytes('fLaC', [0, 0, 0, 34]), 'flac'],
    ['Ogg Opus', oggPage('OpusHead'), 'ogg'],
    ['Ogg Vorbis', oggPage([1, ...Buffer.from('vorbis')]), 'ogg'],
    ['Ogg Theora (video)', oggPage([0x80, ...Buffer.from('theora')]), null],
    ['MP3 with ID3', bytes('ID3', [4, 0, 0]), 'mp3'],
    ['MP3 frame (MPEG-1 layer III, 128 kb/s)', bytes([0xff, 0xfb, 0x90, 0x00]), 'mp3'],
    ['MPEG-1 layer II frame', bytes([0xff, 0xfd, 0x90, 0x00]), null],
    ['MP3 frame with a bad bitrate index', bytes([0xff, 0xfb, 0xf0, 0x00]), null],
    ['AAC ADTS', bytes([0xff, 0xf1, 0x50, 0x40]), 'aac'],
    ['M4A', ftyp('M4A ', 'M4A ', 'isom'), 'mp4'],
    ['MP4 (isom)', ftyp('isom', 'iso2', 'avc1', 'mp41'), 'mp4'],
    ['QuickTime naming an MP4 brand', ftyp('qt  ', 'mp42'), 'mp4'],
    ['QuickTime only', ftyp('qt  ', 'qt  '), null],
    ['HEIC', ftyp('heic', 'mif1', 'heic'), null],
    ['AIFF', bytes('FORM', [0, 0, 0, 4], 'AIFFCOMM'), null],
    ['AMR', bytes('#!AMR\n', [0x3c]), null],
    ['CAF', bytes('caff', [0, 1, 0, 0]), null],
    ['WMA (ASF)', bytes([0x30, 0x26, 0xb2, 0x75, 0x8e, 0x66, 0xcf, 0x11]), null],
    ['GIF', bytes('GIF89a'), null],
    ['text', bytes('hello, this is not audio'), null],
    ['RIFF of another kind (AVI)', bytes('RIFF', [1, 2, 3, 4], 'AVI LIST'), null],
  ])('%s', (_, signature, expected) => {
    // As the start of a real file: more bytes follow the signature.
    const head = Buffer.concat([signature, Buffer.alloc(64)]);
    expect(detectFormat(head, false)).toBe(expected);
    expect(detectFormat(head, true)).toBe(expected);
  });

  it('asks for more bytes while a signature is still possible, never once the file ended', () => {
    for (const prefix of [bytes([0xff]), bytes([0x89, 0x50]), bytes('RIFF'), bytes('Ogg')]) {
      expect(detectFormat(prefix, false)).toBe('more');
      expect(detectFormat(prefix, true)).toBeNull();
    }
    expect(detectFormat(ftyp('isom', 'mp41').subarray(0, 12), false)).toBe('more');
    expect(detectFormat(Buffer.alloc(0), false)).toBe('more');
  });

  it('gives up at SNIFF_BYTES', () => {
    const huge = bytes(
      u32be(SNIFF_BYTES + 8),
      'ftyp',
      'isom',
      Buffer.alloc(SNIFF_BYTES).toString('latin1'),
    );
    expect(detectFormat(huge, false)).toBeNull();
  });
});

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function* chunked(data: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

async function failure(promise: Promise<unknown>): Promise<LikenessException> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof LikenessException) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('sniffed', () => {
  it('passes every byte through and names the format once, from chunks of any size', async () => {
    const file = Buffer.concat([oggPage('OpusHead'), Buffer.alloc(10_000, 7)]);
    for (const size of [1, 3, 30, 4096, 100_000]) {
      const seen: MediaFormat[] = [];
      const out = await collect(sniffed(chunked(file, size), (f) => seen.push(f)));
      expect(out.equals(file)).toBe(true);
      expect(seen).toEqual(['ogg']);
    }
  });

  it('decides a tiny whole file at its end', async () => {
    const seen: MediaFormat[] = [];
    expect(
      await collect(sniffed(chunked(bytes([0xff, 0xd8, 0xff]), 1), (f) => seen.push(f))),
    ).toEqual(bytes([0xff, 0xd8, 0xff]));
    expect(seen).toEqual(['jpeg']);
  });

  it('refuses an empty file', async () => {
    const error = await failure(collect(sniffed(chunked(Buffer.alloc(0), 1), () => undefined)));
    expect(error.code).toBe('BAD_USER_INPUT');
    expect(error.extra).toEqual({ field: 'file', reason: 'EMPTY_FILE' });
  });

  it('refuses an unsupported file without reading past the first chunk', async () => {
    let produced = 0;
    async function* endlessText(): AsyncGenerator<Uint8Array> {
      for (;;) {
        produced += 1;
        yield Buffer.from('plain text, not media. '.repeat(10));
      }
    }
    const error = await failure(collect(sniffed(endlessText(), () => undefined)));
    expect(error.extra).toEqual({ field: 'file', reason: 'UNSUPPORTED_MEDIA_TYPE' });
    expect(produced).toBe(1);
  });
});
