/**
 * `vnet report <run-dir>`: one self-contained HTML page for a training run: training curves from
 * metrics.jsonl, verified error by method and line strategy (from `vnet verify --json` output),
 * neuron status per layer (from `vnet inspect --json` output, or computed), and the mean logit
 * bound gap versus ε for every method (computed on a few test images). Sections whose inputs are
 * missing are left out with a note saying why.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandSpec, OptionSpec } from '../command.js';
import { flagList, flagString, type ParsedArgs } from '../args.js';
import { fileError } from '../../base/errors.js';
import { vnetCommand } from '../../base/output.js';
import { writeFileAtomic } from '../../runtime/io/atomic.js';
import { RunDir } from '../../runtime/train/rundir.js';
import { boundGap, GAP_EPS } from '../../verify/gap.js';
import { neuronStatus } from '../../verify/inspect.js';
import { evalOptions, loadEvalSplit, loadNetwork, testEpsOf } from '../../verify/model.js';
import {
  chartJsSource,
  renderReport,
  type GapSection,
  type MetricPoint,
  type ReportData,
  type StatusSection,
} from '../../verify/report-html.js';
import type { InspectJson } from './inspect.js';
import type { VerifyJson } from '../../verify/results.js';
import { BACKEND_FLAG, intFlag, parseEps, startBackend } from '../options.js';

const FLAGS: readonly OptionSpec[] = [
  {
    name: 'verify',
    type: 'list',
    help: 'results of `vnet verify --json` to chart (several files: rows are merged)',
  },
  {
    name: 'inspect',
    type: 'list',
    help: 'results of `vnet inspect --json` (one or more files) instead of computing them',
  },
  {
    name: 'out',
    short: 'o',
    type: 'string',
    value: 'FILE',
    help: 'output HTML file (default: <run-dir>/report.html)',
  },
  { name: 'spec', type: 'string', help: "the run's spec (default: the path recorded in the run)" },
  { name: 'weights', type: 'string', help: 'parameters (default: <run-dir>/best.safetensors, else last)' },
  { name: 'data', type: 'string', help: 'data set directory for the computed sections' },
  { name: 'status-images', type: 'number', help: 'test images for the computed neuron status', default: 200 },
  { name: 'gap-images', type: 'number', help: 'test images for the bound-gap curves', default: 10 },
  { name: 'gap-eps', type: 'list', help: 'ε grid of the bound-gap curves', default: GAP_EPS.join(',') },
  BACKEND_FLAG,
];

/** Reads a JSON file written by another vnet command, checking its `kind` and that `arrayField` is an array. */
export function readKindJson<T>(path: string, kind: string, arrayField: string): T {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw fileError(
      path,
      e instanceof SyntaxError ? `is not valid JSON (${e.message})` : `cannot read (${(e as Error).message})`,
    );
  }
  if (typeof v !== 'object' || v === null || (v as { kind?: unknown }).kind !== kind) {
    throw fileError(
      path,
      `is not the JSON output of \`vnet ${kind.replace('vnet-', '')} --json\` (its "kind" is not "${kind}")`,
    );
  }
  if (!Array.isArray((v as Record<string, unknown>)[arrayField]))
    throw fileError(path, `has no "${arrayField}" array`);
  return v as T;
}

/** Picks the primitive fields of a JSON object as displayable facts. */
function primitiveFacts(prefix: string, o: Record<string, unknown>): [string, string][] {
  return Object.entries(o)
    .filter(([, v]) => ['string', 'number', 'boolean'].includes(typeof v))
    .map(([k, v]) => [`${prefix}${k}`, String(v)]);
}

async function run(a: ParsedArgs): Promise<number> {
  const dir = a.positionals[0]!;
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw fileError(dir, 'is not a directory');
  const rd = new RunDir(dir);
  if (!existsSync(rd.metricsPath) && !existsSync(rd.recipePath)) {
    throw fileError(dir, 'holds no training run (no metrics.jsonl or recipe.json)', [
      'pass the --out directory of `vnet train`',
    ]);
  }
  const gapEps = (flagList(a, 'gap-eps') ?? GAP_EPS.map(String)).map((e) => parseEps(e, 'gap-eps'));
  const notes: string[] = [];
  const facts: [string, string][] = [['run directory', dir]];

  const metrics: MetricPoint[] = rd.readMetrics();
  if (metrics.length === 0) notes.push(`${rd.metricsPath}: no epochs recorded; training curves left out.`);
  const recipe = existsSync(rd.recipePath) ? rd.readRecipe() : undefined;
  if (recipe) {
    facts.push(...primitiveFacts('', recipe));
    for (const part of ['recipe', 'data'])
      if (typeof recipe[part] === 'object' && recipe[part] !== null)
        facts.push(...primitiveFacts(`${part}.`, recipe[part] as Record<string, unknown>));
    // `command` is the one that started the run; resumes are listed after it
    const resumes = Array.isArray(recipe['resumes']) ? (recipe['resumes'] as Record<string, unknown>[]) : [];
    resumes.forEach((r, i) =>
      facts.push([
        resumes.length === 1 ? 'resumed' : `resumed (${i + 1})`,
        `after epoch ${String(r['afterEpoch'])}: ${String(r['command'])}`,
      ]),
    );
  }
  const sidecarPath = [rd.sidecarPath('best'), rd.sidecarPath('last')].find((p) => existsSync(p));
  const sidecar = sidecarPath ? readKindless(sidecarPath) : undefined;
  if (sidecar)
    facts.push(['checkpoint', `${String(sidecar['checkpoint'])} (epoch ${String(sidecar['epoch'])})`]);

  const verifyFiles = (flagList(a, 'verify') ?? []).map((p) =>
    readKindJson<VerifyJson>(p, 'vnet-verify', 'rows'),
  );
  const verify =
    verifyFiles.length > 0
      ? {
          sources: verifyFiles.map(
            (v) => `${v.spec} with ${v.weights}: ${v.n} ${v.dataset} ${v.split} samples (${v.source})`,
          ),
          rows: verifyFiles.flatMap((v) => v.rows),
        }
      : undefined;
  if (!verify)
    notes.push(
      `No --verify results given: run \`${vnetCommand()} verify <spec> --weights W --lines tight,adaptive --json > results.json\`.`,
    );
  const status: StatusSection[] = (flagList(a, 'inspect') ?? []).map((p) => {
    const j = readKindJson<InspectJson>(p, 'vnet-inspect', 'layers');
    return { method: j.method, eps: j.eps, n: j.n, layers: j.layers };
  });

  const specPath =
    flagString(a, 'spec') ?? (typeof sidecar?.['spec'] === 'string' ? sidecar['spec'] : undefined);
  const weightsPath =
    flagString(a, 'weights') ?? [rd.paramsPath('best'), rd.paramsPath('last')].find((p) => existsSync(p));
  let gap: GapSection | undefined;
  const statusImages = intFlag(a, 'status-images', 0) ?? 200;
  const gapImages = intFlag(a, 'gap-images', 0) ?? 10;
  const needStatus = status.length === 0 && statusImages > 0;
  if (
    (needStatus || gapImages > 0) &&
    specPath !== undefined &&
    existsSync(specPath) &&
    weightsPath !== undefined
  ) {
    await startBackend(a);
    const { mod, params } = await loadNetwork(specPath, weightsPath);
    const meta = mod.meta;
    const o = evalOptions(meta);
    const dataDir = flagString(a, 'data');
    const data = await loadEvalSplit(meta, {
      command: 'report',
      split: 'test',
      limit: Math.max(statusImages, gapImages, 1),
      ...(dataDir !== undefined ? { dir: dataDir } : {}),
    });
    const per = meta.inputCfg.shape.reduce((x, y) => x * y, 1);
    const eps = Math.max(...testEpsOf(meta, 'report'));
    if (needStatus) {
      const sub = {
        x: data.x.subarray(0, statusImages * per),
        labels: Array.from(data.labels).slice(0, statusImages),
      };
      for (const method of ['ibp', 'lbp'] as const)
        status.push({
          method,
          eps,
          n: sub.labels.length,
          layers: await neuronStatus(mod, params, sub, eps, method, 100, o),
        });
    }
    if (gapImages > 0) {
      gap = await boundGap(mod, params, data.x.slice(0, gapImages * per), gapEps, o, undefined, (m, msg) =>
        notes.push(`bound gap: ${m} refused (${msg}).`),
      );
    }
    facts.push(['weights', weightsPath]);
    if (meta.evalEta !== undefined) facts.push(['evaluation η', String(meta.evalEta)]);
  } else {
    const why =
      specPath === undefined
        ? 'the run records no spec path (pass --spec)'
        : !existsSync(specPath)
          ? `spec ${specPath} not found (pass --spec)`
          : weightsPath === undefined
            ? 'no best/last.safetensors in the run (pass --weights)'
            : 'disabled by --status-images 0 --gap-images 0';
    notes.push(`Neuron status and bound-gap curves not computed: ${why}.`);
  }

  const data: ReportData = {
    title: `vnet report: ${typeof sidecar?.['network'] === 'string' ? sidecar['network'] : dir}`,
    generatedAt: new Date().toISOString(),
    facts,
    metrics,
    ...(verify ? { verify } : {}),
    status,
    ...(gap ? { gap } : {}),
    notes,
  };
  const out = flagString(a, 'out') ?? join(dir, 'report.html');
  writeFileAtomic(out, renderReport(data, chartJsSource()));
  console.log(`wrote ${out}`);
  return 0;
}

/** A JSON object file (e.g. a checkpoint sidecar), or a UserError naming it. */
function readKindless(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw fileError(path, `is not valid JSON (${(e as Error).message})`);
  }
}

export const reportCommand: CommandSpec = {
  args: ['<run-dir>'],
  description: 'Writes one HTML file for a training run (Chart.js inlined; no network needed to view it).',
  options: FLAGS,
  examples: ['report runs/fmnist-mlp-quick --verify results.json'],
  run,
};
