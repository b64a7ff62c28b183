import { InferenceSession, Tensor } from 'onnxruntime-node';
import { GraphBuilder, GraphMath } from './index';

/** Builds y = f(m, x) for x [N] and returns y for the given inputs. */
async function evaluate(
  f: (m: GraphMath, x: string) => string,
  xs: readonly number[],
): Promise<number[]> {
  const g = new GraphBuilder('math');
  const m = new GraphMath(g);
  const x = g.input('x', 'float', ['N']);
  g.output('y', 'float', ['N']);
  g.node('Identity', [f(m, x)], ['y']);
  const session = await InferenceSession.create(g.toBytes());
  const { y } = await session.run({ x: new Tensor('float32', Float32Array.from(xs), [xs.length]) });
  await session.release();
  return Array.from(y?.data as Float32Array);
}

const XS = [-2, -1, -0.5, 0, 0.25, 0.5, 1, 3];

describe('GraphMath', () => {
  it('computes arithmetic with numbers as shared scalar constants', async () => {
    const got = await evaluate((m, x) => m.div(m.sub(m.prod(x, 3, 2), 1), m.add(x, 10)), XS);
    XS.forEach((x, k) => expect(got[k]).toBeCloseTo((6 * x - 1) / (x + 10), 6));
    const g = new GraphBuilder('shared');
    const m = new GraphMath(g);
    expect(m.c(2)).toBe(m.c(2));
    expect(m.c(2)).not.toBe(m.c(3));
  });

  it('smoothstep clamps to 0..1 with 3t² − 2t³ between', async () => {
    const got = await evaluate((m, x) => m.smoothstep(x), XS);
    XS.forEach((x, k) => {
      const t = Math.min(1, Math.max(0, x));
      expect(got[k]).toBeCloseTo(t * t * (3 - 2 * t), 6);
    });
  });

  it('bump is (1 − z²)² inside |z| < 1 and exactly 0 outside', async () => {
    const got = await evaluate((m, x) => m.bump(x), XS);
    XS.forEach((x, k) => {
      if (Math.abs(x) >= 1) expect(got[k]).toBe(0);
      else expect(got[k]).toBeCloseTo((1 - x * x) ** 2, 6);
    });
  });

  it('reshapes, slices and reads dimensions', async () => {
    const got = await evaluate((m, x) => {
      const n = m.dim(x, 0);
      const grid = m.reshape(x, m.shape([2], [-1])); // [2, N/2]
      const right = m.slice(grid, [1], [Number.MAX_SAFE_INTEGER], [1]); // drop column 0
      const padded = m.concat([m.slice(grid, [0], [1], [1]), right], 1);
      return m.add(m.reshape(padded, n), m.mul(m.cast(n, 'float'), 0));
    }, XS);
    expect(got).toEqual(XS);
  });
});
