import { describe, expect, test } from 'vitest';
import { formatBytes, formatDuration, ProgressBar } from '../../src/cli/progress.js';

function fakeStream(isTTY: boolean, columns = 200) {
  const out: string[] = [];
  return { out, stream: { isTTY, columns, write: (s: string) => out.push(s) } };
}

describe('ProgressBar', () => {
  test('TTY: one redrawn line with step/total, fields, rate and ETA', () => {
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
    t = 1000;
    bar.update(25, { loss: 0.123456, eps: 0.05 });
    const line = out.at(-1)!;
    expect(line.startsWith('\r\x1b[2K')).toBe(true);
    expect(line).toContain('epoch 1/3');
    expect(line).toContain('[#####---------------]');
    expect(line).toContain('25/100');
    expect(line).toContain('loss=0.1235 eps=0.05');
    expect(line).toContain('1250 img/s');
    expect(line).toContain('ETA 0:03');
    expect(line).not.toContain('\n');
  });

  test('TTY: redraws are throttled, the last step is always drawn, log prints above the bar', () => {
    let t = 0;
    const { out, stream } = fakeStream(true);
    const bar = new ProgressBar({ total: 10, stream, now: () => t, minIntervalMs: 100 });
    for (let i = 1; i <= 9; i++) {
      t += 10;
      bar.update(i);
    }
    expect(out.length).toBe(1); // drawn at step 1 only (90 ms elapsed since)
    bar.log('a message');
    expect(out.slice(1)).toEqual(['\r\x1b[2K', 'a message\n', expect.stringContaining('9/10')]);
    t += 10;
    bar.update(10);
    expect(out.at(-1)).toContain('10/10');
    bar.done('finished');
    expect(out.slice(-2)).toEqual(['\n', 'finished\n']);
  });

  test('TTY: long lines are cut to the terminal width', () => {
    const { out, stream } = fakeStream(true, 30);
    const bar = new ProgressBar({ total: 10, label: 'x'.repeat(50), stream, now: () => 0 });
    bar.update(1);
    expect(out[0]!.length).toBe('\r\x1b[2K'.length + 29);
  });

  test('non-TTY: no bar, only explicit lines', () => {
    const { out, stream } = fakeStream(false);
    const bar = new ProgressBar({ total: 10, stream });
    for (let i = 1; i <= 10; i++) bar.update(i, { loss: 1 });
    expect(out).toEqual([]);
    bar.log('epoch 1: loss 0.5');
    bar.done('done in 3 s');
    expect(out).toEqual(['epoch 1: loss 0.5\n', 'done in 3 s\n']);
  });

  test('bytes format', () => {
    let t = 0;
    const { stream } = fakeStream(true);
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
