import { DEFAULT_TEXT_TOKENS, tokenizeBytes } from './index';

describe('tokenizeBytes', () => {
  it('maps UTF-8 bytes to byte + 1, pads with 0, masks real tokens', () => {
    const { inputIds, attentionMask, length } = tokenizeBytes('hé', 6);
    // h = 0x68, é = 0xc3 0xa9
    expect(Array.from(inputIds, Number)).toEqual([0x69, 0xc4, 0xaa, 0, 0, 0]);
    expect(Array.from(attentionMask, Number)).toEqual([1, 1, 1, 0, 0, 0]);
    expect(length).toBe(3);
  });

  it('truncates to L tokens (128 by default)', () => {
    const long = 'a'.repeat(300);
    const { inputIds, attentionMask, length } = tokenizeBytes(long);
    expect(inputIds).toHaveLength(DEFAULT_TEXT_TOKENS);
    expect(length).toBe(128);
    expect(Array.from(attentionMask, Number).every((v) => v === 1)).toBe(true);
    expect(Array.from(tokenizeBytes('', 3).inputIds, Number)).toEqual([0, 0, 0]);
  });
});
