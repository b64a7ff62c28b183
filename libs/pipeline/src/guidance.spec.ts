import { fieldOf } from './test-helpers';
import {
  DEFAULT_AUDIO_CFG,
  DEFAULT_PROMPT_CFG,
  FlowMatchEulerScheduler,
  GUIDANCE_ROWS,
  PipelineInputError,
  combineGuidance,
  splitGuidanceBatch,
} from './index';

const u = Float32Array.from([1, 0, 2]);
const t = Float32Array.from([2, 1, 2]);
const ta = Float32Array.from([3, 1, 0]);

describe('combineGuidance', () => {
  it('defaults to prompt and audio CFG 5', () => {
    expect(DEFAULT_PROMPT_CFG).toBe(5);
    expect(DEFAULT_AUDIO_CFG).toBe(5);
    // 1 + 5·(2−1) + 5·(3−2) = 11;  0 + 5·1 + 5·0 = 5;  2 + 5·0 + 5·(0−2) = −8
    expect(Array.from(combineGuidance(u, t, ta))).toEqual([11, 5, -8]);
  });

  it('uses the given scales', () => {
    // 1 + 3·1 + 2·1 = 6;  0 + 3·1 + 2·0 = 3;  2 + 3·0 + 2·(−2) = −2
    expect(Array.from(combineGuidance(u, t, ta, { promptCfg: 3, audioCfg: 2 }))).toEqual([
      6, 3, -2,
    ]);
    expect(Array.from(combineGuidance(u, t, ta, { promptCfg: 0.5, audioCfg: 0 }))).toEqual([
      1.5, 0.5, 2,
    ]);
  });

  it('reduces to one row at the corner scales', () => {
    expect(Array.from(combineGuidance(u, t, ta, { promptCfg: 0, audioCfg: 0 }))).toEqual(
      Array.from(u),
    );
    expect(Array.from(combineGuidance(u, t, ta, { promptCfg: 1, audioCfg: 0 }))).toEqual(
      Array.from(t),
    );
    expect(Array.from(combineGuidance(u, t, ta, { promptCfg: 1, audioCfg: 1 }))).toEqual(
      Array.from(ta),
    );
  });

  it('does not modify its inputs, or writes into out when given', () => {
    const result = combineGuidance(u, t, ta);
    expect(Array.from(u)).toEqual([1, 0, 2]);
    const out = new Float32Array(3);
    expect(combineGuidance(u, t, ta, {}, out)).toBe(out);
    expect(Array.from(out)).toEqual(Array.from(result));
  });

  it('rejects mismatched lengths and bad scales', () => {
    expect(fieldOf(() => combineGuidance(u, new Float32Array(2), ta))).toBe('vText');
    expect(fieldOf(() => combineGuidance(u, t, new Float32Array(4)))).toBe('vTextAudio');
    expect(fieldOf(() => combineGuidance(u, t, ta, {}, new Float32Array(1)))).toBe('out');
    expect(fieldOf(() => combineGuidance(u, t, ta, { promptCfg: Number.NaN }))).toBe('promptCfg');
    expect(fieldOf(() => combineGuidance(u, t, ta, { audioCfg: -1 }))).toBe('audioCfg');
  });
});

describe('one guided Euler step', () => {
  it('is x + dt·(u + p(t − u) + a(ta − t)), by hand', () => {
    // 4 steps, shift 3: σ′ = 1, 0.9, 0.75, 0.5, 0 → step 1 has dt = 0.75 − 0.9 = −0.15.
    // p = 4.5, a = 2: v = [1 + 4.5·1 + 2·1, 0 + 4.5·1 + 2·0, 2 + 4.5·0 + 2·(−2)] = [7.5, 4.5, −2]
    // x = [1, 1, 1] → [1 − 1.125, 1 − 0.675, 1 + 0.3] = [−0.125, 0.325, 1.3]
    const v = combineGuidance(u, t, ta, { promptCfg: 4.5, audioCfg: 2 });
    expect(Array.from(v)).toEqual([7.5, 4.5, -2]);
    const x = new FlowMatchEulerScheduler({ steps: 4, shift: 3 }).step(
      Float32Array.from([1, 1, 1]),
      v,
      1,
    );
    expect(x[0]).toBeCloseTo(-0.125, 6);
    expect(x[1]).toBeCloseTo(0.325, 6);
    expect(x[2]).toBeCloseTo(1.3, 6);
  });
});

describe('splitGuidanceBatch', () => {
  it('splits [3, ...] into uncond, text and text+audio rows (views)', () => {
    expect(GUIDANCE_ROWS).toEqual(['uncond', 'text', 'textAudio']);
    const data = Float32Array.from({ length: 12 }, (_, i) => i);
    const rows = splitGuidanceBatch(data, [3, 2, 2]);
    expect(Array.from(rows.uncond)).toEqual([0, 1, 2, 3]);
    expect(Array.from(rows.text)).toEqual([4, 5, 6, 7]);
    expect(Array.from(rows.textAudio)).toEqual([8, 9, 10, 11]);
    data[5] = 50;
    expect(rows.text[1]).toBe(50);
  });

  it('feeds combineGuidance', () => {
    const batch = Float32Array.from([...u, ...t, ...ta]);
    const rows = splitGuidanceBatch(batch, [3, 3]);
    expect(Array.from(combineGuidance(rows.uncond, rows.text, rows.textAudio))).toEqual([
      11, 5, -8,
    ]);
  });

  it('rejects a batch that is not [3, ...] or does not match its dims', () => {
    expect(() => splitGuidanceBatch(new Float32Array(4), [2, 2])).toThrow(PipelineInputError);
    expect(() => splitGuidanceBatch(new Float32Array(4), [])).toThrow(/batch size 3/);
    expect(() => splitGuidanceBatch(new Float32Array(5), [3, 2])).toThrow(/need 6/);
    expect(() => splitGuidanceBatch(new Float32Array(6), [3, -2, -1])).toThrow(/non-negative/);
  });
});
