import { afterEach, describe, expect, test } from 'vitest';
import { formatBytes, formatDuration, ProgressBar, stopAllProgress } from '../../src/base/progress.js';
import { onPath, setOutputMode, vnetCommand } from '../../src/base/output.js';

function fakeStream(isTTY: boolean, columns = 200) {
  const out: string[] = [];
  return { out, stream: { isTTY, columns, write: (s: string) => out.push(s) } };
}
/** The text written, control sequences removed. */
const plain = (out: readonly string[]): string =>
  // eslint-disable-next-line no-control-regex
  out.join('').replace(/\x1b(\[[0-9;?]*[A-Za-z]|[78])/g, '');

afterEach(() => {
  stopAllProgress();
  setOutputMode({});
});

describe('ProgressBar (cli-progress)', () => {
  test('TTY: the bar shows label, bar, step/total, fields, rate and ETA', () => {
    let t = 0;
    const { out, stream } = fakeStream(true);
    const bar = new ProgressBar({
      total: 100,
      label: 'epoch 1/3',
      stream,
      unit: 'img',
      unitsPerStep: 50,
      now: () => t,
    });
    expect(bar.drawing).toBe(true);
    t = 1000;
    bar.update(25, { loss: 0.123456, eps: 0.05 });
    const line = bar.render();
    expect(line).toContain('epoch 1/3');
    expect(line).toContain('[#####---------------]');
    expect(line).toContain('25/100');
    expect(line).toContain('loss=0.1235 eps=0.05');
    expect(line).toContain('1250 img/s');
    expect(line).toContain('ETA 0:03');
    bar.done();
    // The final state is what stays on screen.
    expect(plain(out)).toContain('epoch 1/3  [#####---------------]  25/100');
    expect(bar.drawing).toBe(false);
  });

  test('TTY: log prints above the bar, done prints the summary after the final state', () => {
    const { out, stream } = fakeStream(true);
    const bar = new ProgressBar({ total: 10, label: 'verify', stream, now: () => 0 });
    bar.update(3);
    bar.log('a message');
    expect(out.join('')).toContain('\r\x1b[2Ka message\n');
    bar.update(10);
    bar.done('finished');
    expect(out.at(-1)).toBe('finished\n');
    expect(plain(out)).toContain('10/10');
  });

  test('TTY: long lines are cut to the terminal width', () => {
    const { out, stream } = fakeStream(true, 30);
    const bar = new ProgressBar({ total: 10, label: 'x'.repeat(50), stream, now: () => 0 });
    bar.update(1);
    bar.done();
    const drawn = plain(out)
      .split(/[\r\n]/)
      .filter((l) => l.includes('xxx'));
    expect(drawn.length).toBeGreaterThan(0);
    for (const l of drawn) expect(l.length).toBeLessThanOrEqual(29);
  });

  test('non-TTY: no bar, only explicit lines', () => {
    const { out, stream } = fakeStream(false);
    const bar = new ProgressBar({ total: 10, stream });
    expect(bar.drawing).toBe(false);
    for (let i = 1; i <= 10; i++) bar.update(i, { loss: 1 });
    expect(out).toEqual([]);
    bar.log('epoch 1: loss 0.5');
    bar.done('done in 3 s');
    expect(out).toEqual(['epoch 1: loss 0.5\n', 'done in 3 s\n']);
  });

  test('--quiet and --json: nothing is drawn even on a TTY', () => {
    for (const mode of [{ quiet: true }, { json: true }]) {
      setOutputMode(mode);
      const { out, stream } = fakeStream(true);
      const bar = new ProgressBar({ total: 10, stream });
      bar.update(5);
      bar.done();
      expect(bar.drawing).toBe(false);
      expect(out).toEqual([]);
    }
  });

  test('stopAllProgress ends bars left running (their timers would keep the process alive)', () => {
    const { stream } = fakeStream(true);
    const bar = new ProgressBar({ total: 10, stream });
    bar.update(2);
    expect(bar.drawing).toBe(true);
    stopAllProgress();
    expect(bar.drawing).toBe(false);
  });

  test('bytes format', () => {
    let t = 0;
    const { stream } = fakeStream(false);
    const bar = new ProgressBar({ total: 26_421_856, format: 'bytes', stream, now: () => t });
    t = 2000;
    bar.update(10_000_000);
    expect(bar.render()).toContain('10.0 MB/26.4 MB');
    expect(bar.render()).toContain('5.0 MB/s');
  });

  test('formatters', () => {
    expect(formatDuration(59.6)).toBe('1:00');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(NaN)).toBe('?');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 kB');
  });
});

describe('hints name the command as the user can run it', () => {
  test('vnet when it is on PATH, else npx vnet', () => {
    expect(onPath('node')).toBe(true);
    expect(onPath('vnet', '/nonexistent-dir')).toBe(false);
    expect(vnetCommand()).toBe(onPath('vnet') ? 'vnet' : 'npx vnet');
  });
});
