import type { AdmissionCandidate, AdmissionTenant } from '@likeness/db';
import { roundRobin } from './fair-order';
import { etaFor, positionInLine } from './render-queue-info';

function tenant(id: string, lastAdmittedAt: string | null): AdmissionTenant {
  return {
    tenantId: id,
    plan: 'pro',
    status: 'ACTIVE',
    waiting: 10,
    inFlight: 0,
    lastAdmittedAt: lastAdmittedAt ? new Date(lastAdmittedAt) : null,
  };
}

function candidates(id: string, n: number): AdmissionCandidate[] {
  return Array.from({ length: n }, (_, i) => ({
    renderId: `${id}${i + 1}`,
    tenantId: id,
    rank: i + 1,
  }));
}

describe('roundRobin', () => {
  it('takes one render of every tenant per round, longest-unserved tenants first', () => {
    const tenants = [
      tenant('a', '2026-01-01T00:00:03Z'),
      tenant('b', null),
      tenant('c', '2026-01-01T00:00:01Z'),
    ];
    const all = [...candidates('a', 3), ...candidates('b', 1), ...candidates('c', 2)];
    expect(roundRobin(tenants, all, 10)).toEqual(['b1', 'c1', 'a1', 'c2', 'a2', 'a3']);
    expect(roundRobin(tenants, all, 2)).toEqual(['b1', 'c1']);
  });

  it('keeps each tenant’s own order (rank) whatever order candidates come in', () => {
    const shuffled = [...candidates('a', 3)].reverse();
    expect(roundRobin([tenant('a', null)], shuffled, 3)).toEqual(['a1', 'a2', 'a3']);
  });

  it('breaks ties between never-served tenants by id, and admits nothing without room', () => {
    const tenants = [tenant('z', null), tenant('m', null)];
    const all = [...candidates('z', 1), ...candidates('m', 1)];
    expect(roundRobin(tenants, all, 5)).toEqual(['m1', 'z1']);
    expect(roundRobin(tenants, all, 0)).toEqual([]);
    expect(roundRobin(tenants, [], 5)).toEqual([]);
  });

  it('over many one-slot passes, serves a heavy tenant no more often than the others', () => {
    const last = new Map<string, number>();
    const left = new Map([
      ['a', 200],
      ['b', 10],
      ['c', 10],
    ]);
    const order: string[] = [];
    for (let pass = 1; pass <= 30; pass++) {
      const tenants = [...left]
        .filter(([, n]) => n > 0)
        .map(([id]) =>
          tenant(id, last.has(id) ? new Date(last.get(id) as number).toISOString() : null),
        );
      const all = tenants.flatMap((t) => candidates(t.tenantId, 1));
      const [chosen] = roundRobin(tenants, all, 1);
      const id = (chosen as string).slice(0, 1);
      order.push(id);
      last.set(id, pass * 1000);
      left.set(id, (left.get(id) as number) - 1);
    }
    expect(order.filter((id) => id === 'a')).toHaveLength(10);
    expect(order.slice(0, 6)).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  });
});

describe('queue position and ETA', () => {
  const snapshot = {
    otherWaiting: [1, 3, 10],
    admittedWaiting: 2,
    startedRecently: 60,
    secondsPerVideoSecond: 4,
  };

  it('counts admitted renders, own predecessors and each other tenant’s first rounds', () => {
    expect(positionInLine(snapshot, 1)).toBe(3); // 2 admitted ahead
    expect(positionInLine(snapshot, 3)).toBe(2 + 2 + (1 + 2 + 2) + 1);
    expect(positionInLine({ ...snapshot, otherWaiting: [], admittedWaiting: 0 }, 1)).toBe(1);
  });

  it('estimates from recent starts and run speed, and says nothing without data', () => {
    // 60 starts in 600 s = 0.1 per second: 4 ahead → 40 s, plus 2 s of audio at 4 s/s.
    expect(etaFor(snapshot, 5, 2, true)).toBe(48);
    expect(etaFor(snapshot, 1, 2, true)).toBe(8);
    expect(etaFor(snapshot, 1, 2, false)).toBeNull();
    expect(etaFor({ ...snapshot, secondsPerVideoSecond: null }, 5, 2, true)).toBeNull();
    expect(etaFor({ ...snapshot, startedRecently: 0 }, 5, 2, true)).toBeNull();
  });
});
