import { PeriodicTask } from './periodic-task';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('PeriodicTask', () => {
  it('runs the pass every interval and never two at once', async () => {
    let active = 0;
    let maxActive = 0;
    let passes = 0;
    const task = new PeriodicTask(
      'test',
      10,
      async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        await sleep(35); // longer than the interval: ticks meanwhile are skipped
        active--;
        passes++;
      },
      { warn: () => undefined },
    );
    task.start();
    await sleep(200);
    await task.stop();
    expect(passes).toBeGreaterThanOrEqual(2);
    expect(maxActive).toBe(1);
  });

  it('logs a failed pass with its name and keeps going', async () => {
    const warnings: string[] = [];
    let calls = 0;
    const task = new PeriodicTask(
      'webhook sweep',
      10,
      () => {
        calls++;
        return Promise.reject(new Error('database down'));
      },
      { warn: (m) => warnings.push(m) },
    );
    task.start();
    await sleep(80);
    await task.stop();
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(warnings[0]).toBe('webhook sweep failed: database down');
  });

  it('stop() waits for the pass in flight and no pass starts afterwards', async () => {
    let finished = false;
    let calls = 0;
    const task = new PeriodicTask(
      'test',
      5,
      async () => {
        calls++;
        await sleep(50);
        finished = true;
      },
      { warn: () => undefined },
    );
    task.start();
    await sleep(15);
    await task.stop();
    expect(finished).toBe(true);
    const after = calls;
    await sleep(40);
    expect(calls).toBe(after);
    task.start(); // a stopped task stays stopped
    await sleep(30);
    expect(calls).toBe(after);
  });

  it('never runs with an interval of 0', async () => {
    let calls = 0;
    const task = new PeriodicTask(
      'test',
      0,
      async () => {
        calls++;
      },
      { warn: () => undefined },
    );
    task.start();
    await sleep(30);
    await task.stop();
    expect(calls).toBe(0);
  });
});
