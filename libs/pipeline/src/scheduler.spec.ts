import { fieldOf } from './test-helpers';
import { FlowMatchEulerScheduler, shiftSigma } from './index';

describe('shiftSigma', () => {
  it('matches σ′ = shift·σ / (1 + (shift − 1)·σ)', () => {
    expect(shiftSigma(0.5, 5)).toBeCloseTo(5 / 6, 15); // 2.5 / 3
    expect(shiftSigma(0.25, 3)).toBeCloseTo(0.5, 15); // 0.75 / 1.5
    expect(shiftSigma(1, 5)).toBe(1);
    expect(shiftSigma(0, 5)).toBe(0);
    expect(shiftSigma(0.3, 1)).toBeCloseTo(0.3, 15);
  });
});

describe('FlowMatchEulerScheduler', () => {
  it('defaults to the release: 30 steps, shift 5', () => {
    const s = new FlowMatchEulerScheduler();
    expect(s.steps).toBe(30);
    expect(s.shift).toBe(5);
    expect(s.sigmas).toHaveLength(31);
    expect(s.timesteps).toHaveLength(30);
    expect(s.sigma(0)).toBe(1);
    expect(s.sigma(15)).toBeCloseTo(5 / 6, 12); // base σ = 0.5
    expect(s.sigma(30)).toBe(0);
    expect(s.timestep(0)).toBe(1000);
    expect(s.timestep(15)).toBeCloseTo(5000 / 6, 9);
    for (let i = 0; i < 30; i++) expect(s.sigmas[i + 1]).toBeLessThan(s.sigmas[i] as number);
  });

  it('computes shifted sigmas and timesteps by hand for 4 steps, shift 3', () => {
    // base σ: 1, .75, .5, .25, 0 → 3σ/(1+2σ): 1, 2.25/2.5, 1.5/2, .75/1.5, 0
    const s = new FlowMatchEulerScheduler({ steps: 4, shift: 3 });
    const expected = [1, 0.9, 0.75, 0.5, 0];
    expected.forEach((v, i) => expect(s.sigmas[i]).toBeCloseTo(v, 12));
    expect(Array.from(s.timesteps)).toEqual(
      expected.slice(0, 4).map((v) => expect.closeTo(1000 * v, 9)),
    );
  });

  it('gives the release schedule (30 steps, shift 5) by hand at its first and last steps', () => {
    const s = new FlowMatchEulerScheduler();
    // σ_1 = 29/30 → 5·(29/30) / (1 + 4·29/30) = 145/146; σ_29 = 1/30 → (5/30) / (1 + 4/30) = 5/34
    expect(s.sigma(1)).toBeCloseTo(145 / 146, 12);
    expect(s.timestep(1)).toBeCloseTo(145000 / 146, 9);
    expect(s.sigma(29)).toBeCloseTo(5 / 34, 12);
    // The last step goes from 5/34 to 0: x − (5/34)·3.4 = x − 0.5.
    expect(s.step(Float32Array.from([1]), Float32Array.from([3.4]), 29)[0]).toBeCloseTo(0.5, 6);
    // The first: dt = 145/146 − 1 = −1/146.
    expect(s.step(Float32Array.from([1]), Float32Array.from([146]), 0)[0]).toBeCloseTo(0, 5);
  });

  it('with shift 1 is the plain linear schedule', () => {
    const s = new FlowMatchEulerScheduler({ steps: 4, shift: 1 });
    expect(Array.from(s.sigmas)).toEqual([1, 0.75, 0.5, 0.25, 0]);
  });

  it('steps x_{i+1} = x_i + (σ′_{i+1} − σ′_i)·v', () => {
    const s = new FlowMatchEulerScheduler({ steps: 4, shift: 3 });
    const latent = Float32Array.from([1, 2, -1]);
    const velocity = Float32Array.from([0.5, -1, 2]);
    // i = 1: dt = 0.75 − 0.9 = −0.15
    const next = s.step(latent, velocity, 1);
    expect(next).not.toBe(latent);
    expect(Array.from(latent)).toEqual([1, 2, -1]);
    expect(next[0]).toBeCloseTo(0.925, 6);
    expect(next[1]).toBeCloseTo(2.15, 6);
    expect(next[2]).toBeCloseTo(-1.3, 6);
    // i = 3: dt = 0 − 0.5
    const last = s.step(latent, velocity, 3);
    expect(Array.from(last)).toEqual([0.75, 2.5, -2]);
  });

  it('steps in place when out is the latent', () => {
    const s = new FlowMatchEulerScheduler({ steps: 2, shift: 5 });
    const latent = Float32Array.from([3, -3]);
    const out = s.step(latent, Float32Array.from([6, 6]), 0); // dt = 5/6 − 1 = −1/6
    const same = s.step(latent, Float32Array.from([6, 6]), 0, latent);
    expect(same).toBe(latent);
    expect(Array.from(latent)).toEqual(Array.from(out));
    expect(latent[0]).toBeCloseTo(2, 6);
    expect(latent[1]).toBeCloseTo(-4, 6);
  });

  it('reaches the data from noise when the velocity is the exact flow noise − data', () => {
    const s = new FlowMatchEulerScheduler();
    const data = Float32Array.from([0.25, -0.5, 0.75, 0]);
    const noise = Float32Array.from([1.5, 0.2, -2, 0.9]);
    const v = noise.map((n, k) => n - (data[k] as number));
    let x: Float32Array = noise.slice();
    for (let i = 0; i < s.steps; i++) {
      // the interpolant at σ′_i is σ′·noise + (1 − σ′)·data
      const sigma = s.sigma(i);
      x.forEach((value, k) =>
        expect(value).toBeCloseTo(
          sigma * (noise[k] as number) + (1 - sigma) * (data[k] as number),
          5,
        ),
      );
      x = s.step(x, v, i);
    }
    x.forEach((value, k) => expect(value).toBeCloseTo(data[k] as number, 5));
  });

  it('rejects bad options and arguments, naming the field', () => {
    expect(fieldOf(() => new FlowMatchEulerScheduler({ steps: 0 }))).toBe('steps');
    expect(fieldOf(() => new FlowMatchEulerScheduler({ steps: 2.5 }))).toBe('steps');
    expect(fieldOf(() => new FlowMatchEulerScheduler({ shift: 0 }))).toBe('shift');
    expect(fieldOf(() => new FlowMatchEulerScheduler({ shift: Number.NaN }))).toBe('shift');
    const s = new FlowMatchEulerScheduler({ steps: 3 });
    const x = new Float32Array(4);
    expect(fieldOf(() => s.step(x, new Float32Array(4), 3))).toBe('i');
    expect(fieldOf(() => s.step(x, new Float32Array(4), -1))).toBe('i');
    expect(fieldOf(() => s.step(x, new Float32Array(3), 0))).toBe('velocity');
    expect(fieldOf(() => s.step(x, new Float32Array(4), 0, new Float32Array(5)))).toBe('out');
    expect(fieldOf(() => s.timestep(3))).toBe('i');
    expect(fieldOf(() => s.sigma(4))).toBe('i');
    expect(s.sigma(3)).toBe(0);
  });
});
