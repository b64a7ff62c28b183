import { BadAssetException } from './asset.errors';

/**
 * Container formats accepted by `POST /v1/assets`, recognised by their magic bytes only (the
 * caller's Content-Type and file name are never trusted). `mp4` covers ISO base media files;
 * whether one is AUDIO (M4A) or VIDEO is decided by probing its tracks.
 */
export type MediaFormat = 'jpeg' | 'png' | 'webp' | 'wav' | 'mp3' | 'aac' | 'mp4' | 'ogg' | 'flac';

/** Bytes looked at before giving up: every signature below fits well within this. */
export const SNIFF_BYTES = 4096;

type Verdict = 'yes' | 'no' | 'more';

function startsWith(head: Uint8Array, signature: readonly number[], offset = 0): Verdict {
  for (let i = 0; i < signature.length; i++) {
    if (offset + i >= head.length) return 'more';
    if (head[offset + i] !== signature[i]) return 'no';
  }
  return 'yes';
}

const ascii = (text: string): number[] => Array.from(text, (c) => c.charCodeAt(0));

function both(first: Verdict, second: () => Verdict): Verdict {
  return first === 'yes' ? second() : first;
}

const JPEG = [0xff, 0xd8, 0xff];
const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const RIFF = ascii('RIFF');
const FLAC = ascii('fLaC');
const OGG = ascii('OggS');
const ID3 = ascii('ID3');
const FTYP = ascii('ftyp');

/** Major or compatible brands of an `ftyp` box that mean an MP4/M4A file we can read. */
const MP4_BRANDS = new Set([
  'isom',
  'iso2',
  'iso3',
  'iso4',
  'iso5',
  'iso6',
  'mp41',
  'mp42',
  'avc1',
  'dash',
  'M4A ',
  'M4B ',
  'M4V ',
]);

/** MPEG audio frame header: 11 sync bits, then version, layer, bitrate and rate indexes. */
function mpegAudio(head: Uint8Array): 'mp3' | 'aac' | 'more' | null {
  if (head.length === 0) return 'more';
  if (head[0] !== 0xff) return null;
  if (head.length < 2) return 'more';
  const b1 = head[1] ?? 0;
  if ((b1 & 0xe0) !== 0xe0) return null;
  if (head.length < 3) return 'more';
  const b2 = head[2] ?? 0;
  const layer = (b1 >> 1) & 0x03;
  if (layer === 0) {
    // ADTS (AAC): 12 sync bits, layer 00, a valid sampling-frequency index.
    return (b1 & 0xf0) === 0xf0 && ((b2 >> 2) & 0x0f) < 13 ? 'aac' : null;
  }
  const version = (b1 >> 3) & 0x03;
  const bitrate = b2 >> 4;
  const rate = (b2 >> 2) & 0x03;
  // Layer III only (bits 01); version 01 is reserved; bitrate 1111 and rate 11 are invalid.
  return layer === 1 && version !== 1 && bitrate !== 0x0f && rate !== 0x03 ? 'mp3' : null;
}

function isoBmff(head: Uint8Array): Verdict {
  const boxType = startsWith(head, FTYP, 4);
  if (boxType !== 'yes') return boxType;
  if (head.length < 8) return 'more';
  const size =
    ((head[0] ?? 0) << 24) | ((head[1] ?? 0) << 16) | ((head[2] ?? 0) << 8) | (head[3] ?? 0);
  if (size < 16 || size > SNIFF_BYTES) return 'no';
  if (head.length < size) return 'more';
  const text = Buffer.from(head.subarray(8, size)).toString('latin1');
  const brands = [text.slice(0, 4)];
  for (let at = 8; at + 4 <= text.length; at += 4) brands.push(text.slice(at, at + 4));
  return brands.some((b) => MP4_BRANDS.has(b)) ? 'yes' : 'no';
}

/** Ogg: the first packet of the first page names the codec; we accept Opus and Vorbis. */
function oggAudio(head: Uint8Array): Verdict {
  const capture = startsWith(head, OGG);
  if (capture !== 'yes') return capture;
  if (head.length < 27) return 'more';
  const packet = 27 + (head[26] ?? 0);
  const opus = startsWith(head, ascii('OpusHead'), packet);
  const vorbis = startsWith(head, [0x01, ...ascii('vorbis')], packet);
  if (opus === 'yes' || vorbis === 'yes') return 'yes';
  return opus === 'more' || vorbis === 'more' ? 'more' : 'no';
}

const MATCHERS: readonly [MediaFormat, (head: Uint8Array) => Verdict][] = [
  ['jpeg', (h) => startsWith(h, JPEG)],
  ['png', (h) => startsWith(h, PNG)],
  ['webp', (h) => both(startsWith(h, RIFF), () => startsWith(h, ascii('WEBP'), 8))],
  ['wav', (h) => both(startsWith(h, RIFF), () => startsWith(h, ascii('WAVE'), 8))],
  ['flac', (h) => startsWith(h, FLAC)],
  ['ogg', oggAudio],
  ['mp4', isoBmff],
  ['mp3', (h) => startsWith(h, ID3)],
];

/**
 * The format of a file from its first bytes: a format, `'more'` when more bytes could still
 * decide (never once `final`, i.e. the whole file is in `head`), or null for anything else.
 */
export function detectFormat(head: Uint8Array, final: boolean): MediaFormat | 'more' | null {
  let undecided = false;
  for (const [format, match] of MATCHERS) {
    const verdict = match(head);
    if (verdict === 'yes') return format;
    if (verdict === 'more') undecided = true;
  }
  const frame = mpegAudio(head);
  if (frame === 'mp3' || frame === 'aac') return frame;
  if (frame === 'more') undecided = true;
  return undecided && !final && head.length < SNIFF_BYTES ? 'more' : null;
}

const DESCRIPTION = 'JPEG, PNG, WebP, WAV, MP3, AAC, M4A, Ogg (Opus/Vorbis), FLAC or MP4';

/**
 * Passes `source` through unchanged once its first bytes name a supported format (reported to
 * `onFormat` before the first chunk is passed on). Throws BAD_USER_INPUT (field `file`) for an
 * empty or unsupported file as soon as that is known, without reading the rest.
 */
export async function* sniffed(
  source: AsyncIterable<Uint8Array>,
  onFormat: (format: MediaFormat) => void,
): AsyncGenerator<Uint8Array> {
  let head: Buffer | null = Buffer.alloc(0);
  for await (const chunk of source) {
    if (head === null) {
      yield chunk;
      continue;
    }
    head = Buffer.concat([head, chunk]);
    const format = detectFormat(head, false);
    if (format === 'more') continue;
    if (format === null) throw unsupported();
    onFormat(format);
    const first: Buffer = head;
    head = null;
    yield first;
  }
  if (head === null) return;
  if (head.length === 0) throw new BadAssetException('The file is empty', 'EMPTY_FILE');
  const format = detectFormat(head, true);
  if (format === null || format === 'more') throw unsupported();
  onFormat(format);
  yield head;
}

function unsupported(): BadAssetException {
  return new BadAssetException(
    `Unsupported file type: expected ${DESCRIPTION} (recognised by content, not by name or Content-Type)`,
    'UNSUPPORTED_MEDIA_TYPE',
  );
}
