/**
 * A one-node SLURM cluster for a test: munged, slurmctld and slurmd from Debian's packages
 * (slurm-wlm, munge), each with its own key, sockets, ports, state and logs under one temporary
 * directory, so nothing of the machine's own configuration is used or changed. Plugins that need
 * cgroups are avoided (proctrack/linuxproc, task/none): it runs in an unprivileged container as
 * root. `startSlurm` resolves to the reason when it cannot start, for the test to skip with.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname, availableParallelism } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { run as runChild } from '../child.js';

export interface Slurm {
  /** Environment for sbatch/squeue/sinfo (SLURM_CONF). */
  readonly env: NodeJS.ProcessEnv;
  readonly dir: string;
  stop(): Promise<void>;
}

const which = (cmd: string): string | undefined => {
  for (const d of ['/usr/sbin', '/usr/bin', '/sbin', '/bin', ...(process.env['PATH'] ?? '').split(':')])
    if (d && existsSync(join(d, cmd))) return join(d, cmd);
  return undefined;
};

/** A TCP port nobody listens on now. */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const tail = (f: string): string =>
  existsSync(f) ? readFileSync(f, 'utf8').trimEnd().split('\n').slice(-3).join(' | ') : '(no log)';

/** Starts the cluster in `dir`, or returns why it cannot. */
export async function startSlurm(dir: string): Promise<Slurm | string> {
  if (process.platform !== 'linux') return `SLURM needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'slurmd must run as root for this test (it is not)';
  const bins = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'sinfo'].map((b) => [b, which(b)] as const);
  const missing = bins.filter(([, p]) => !p).map(([b]) => b);
  if (missing.length)
    return `${missing.join(', ')} not found (install Debian's packages: apt-get install -y slurm-wlm munge)`;
  const bin = Object.fromEntries(bins) as Record<string, string>;
  for (const d of ['state', 'spool', 'log', 'munge']) mkdirSync(join(dir, d), { recursive: true });
  chmodSync(join(dir, 'munge'), 0o700);
  const key = join(dir, 'munge', 'munge.key');
  writeFileSync(key, randomBytes(1024), { mode: 0o400 });
  const sock = join(dir, 'munge', 'sock');
  const pids = {
    munge: join(dir, 'munge', 'pid'),
    ctld: join(dir, 'slurmctld.pid'),
    d: join(dir, 'slurmd.pid'),
  };
  const host = hostname().split('.')[0]!;
  const [ctldPort, dPort] = [await freePort(), await freePort()];
  const conf = join(dir, 'slurm.conf');
  writeFileSync(
    conf,
    [
      'ClusterName=vnettest',
      `SlurmctldHost=${host}`,
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${dPort}`,
      'SlurmUser=root',
      'SlurmdUser=root',
      'AuthType=auth/munge',
      `AuthInfo=socket=${sock}`,
      'CredType=cred/munge',
      `StateSaveLocation=${join(dir, 'state')}`,
      `SlurmdSpoolDir=${join(dir, 'spool')}`,
      `SlurmctldPidFile=${pids.ctld}`,
      `SlurmdPidFile=${pids.d}`,
      `SlurmctldLogFile=${join(dir, 'log', 'slurmctld.log')}`,
      `SlurmdLogFile=${join(dir, 'log', 'slurmd.log')}`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'JobAcctGatherType=jobacct_gather/none',
      'AccountingStorageType=accounting_storage/none',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_CPU',
      'ReturnToService=2',
      'MpiDefault=none',
      `NodeName=${host} CPUs=${availableParallelism()} State=UNKNOWN`,
      `PartitionName=test Nodes=${host} Default=YES MaxTime=INFINITE State=UP`,
      '',
    ].join('\n'),
  );
  const env = { ...process.env, SLURM_CONF: conf };
  const started: string[] = [];
  const stop = async (): Promise<void> => {
    // the daemons this test started, by their pid files, newest first
    for (const f of [...started].reverse()) {
      if (!existsSync(f)) continue;
      const pid = Number(readFileSync(f, 'utf8').trim());
      if (!(pid > 1)) continue;
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        continue; // already gone
      }
      for (let i = 0; i < 50; i++) {
        try {
          process.kill(pid, 0);
        } catch {
          break;
        }
        await sleep(100);
      }
    }
  };
  const run = async (
    what: string,
    cmd: string,
    args: string[],
    pidFile: string,
    log: string,
  ): Promise<string | undefined> => {
    const r = await runChild(cmd, args, { env, timeoutMs: 20_000 });
    started.push(pidFile);
    if (r.code !== 0)
      return `${what} did not start (exit ${r.code}: ${(r.err || r.out || '').trim().split('\n').slice(-2).join(' | ')}; log: ${tail(log)})`;
    return undefined;
  };
  const mlog = join(dir, 'munge', 'log');
  const why =
    (await run(
      'munged',
      bin['munged']!,
      [
        '-f',
        `--key-file=${key}`,
        `--socket=${sock}`,
        `--pid-file=${pids.munge}`,
        `--log-file=${mlog}`,
        `--seed-file=${join(dir, 'munge', 'seed')}`,
      ],
      pids.munge,
      mlog,
    )) ??
    (await run('slurmctld', bin['slurmctld']!, ['-f', conf], pids.ctld, join(dir, 'log', 'slurmctld.log'))) ??
    (await run('slurmd', bin['slurmd']!, ['-f', conf], pids.d, join(dir, 'log', 'slurmd.log')));
  if (why) {
    await stop();
    return why;
  }
  // wait for the node to be idle
  for (let i = 0; i < 60; i++) {
    let state = '';
    try {
      const r = await runChild(bin['sinfo']!, ['-h', '-o', '%T'], { env, timeoutMs: 10_000 });
      if (r.code === 0) state = r.out.trim(); // else slurmctld is not answering yet
    } catch {
      // slurmctld not answering yet
    }
    if (state === 'idle') return { env, dir, stop };
    await sleep(500);
  }
  await stop();
  return `the SLURM node did not become idle in 30 s (slurmd log: ${tail(join(dir, 'log', 'slurmd.log'))})`;
}
