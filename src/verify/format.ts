/**
 * Plain-text renderings of verification results for the terminal: the verify table (one row per
 * ε, method and line strategy), the neuron-status table, the soundness-violation banner, and the
 * JSON-lines text of certificates. Pure string functions.
 */
import type { ResultRow, SoundnessViolation } from './evaluate.js';
import { RAMP_STATUSES, RELU_STATUSES, type LayerStatus } from './status.js';

/** Left-aligned first `leftCols` columns, right-aligned numbers, two spaces between columns. */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  leftCols = 1,
): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]): string =>
    r
      .map((c, i) => (i < leftCols ? c.padEnd(w[i]!) : c.padStart(w[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

const pct = (v: number | null): string => (v === null ? '-' : `${v.toFixed(2)}%`);
const num = (v: number | null): string =>
  v === null ? '-' : Math.abs(v) >= 1e4 ? v.toExponential(3) : v.toFixed(4);

/**
 * The verify table: ε, method, lines, clean / PGD / verified error, samples verified in float32 but
 * not confirmed by the rigorous check (counted as not verified), mean margin lower bound, NaN count,
 * seconds (of the shared pass, named, where a row's bounds came from a CROWN-IBP / CROWN-LBP pass).
 */
export function formatVerifyTable(rows: readonly ResultRow[]): string {
  const body = rows.map((r) => [
    String(r.eps),
    r.method,
    r.lines,
    String(r.n),
    r.n > 0 ? pct(r.cleanErrPct) : '-',
    r.n > 0 ? pct(r.pgdErrPct) : '-',
    r.refused !== undefined ? 'refused' : pct(r.verifiedErrPct),
    String(r.unconfirmed),
    num(r.meanMarginLower),
    String(r.nonFinite),
    r.sharedWith !== undefined ? `${r.seconds.toFixed(2)} (${r.sharedWith} pass)` : r.seconds.toFixed(2),
  ]);
  return renderTable(
    [
      'eps',
      'method',
      'lines',
      'n',
      'clean err',
      'PGD err',
      'verified err',
      'unconfirmed',
      'mean margin lb',
      'NaN/Inf',
      'bound s',
    ],
    body,
    3,
  );
}

/** A loud, multi-line message for samples that a method verified although PGD broke them. */
export function formatViolations(v: readonly SoundnessViolation[]): string {
  const head = [
    '!'.repeat(78),
    `SOUNDNESS BUG: ${v.length} sample(s) verified by a bound method but broken by PGD.`,
    'A verified sample cannot have a misclassified point in its ε-ball: a bound is wrong.',
  ];
  const lines = v
    .slice(0, 20)
    .map(
      (x) =>
        `  sample ${x.index} (label ${x.label}), ${x.method} with ${x.lines} lines at ε=${x.eps}: ` +
        `certified min margin ${x.minMarginLower.toPrecision(6)}, PGD restart ${x.restart} found logits ` +
        `[${x.witnessLogits.map((z) => z.toPrecision(4)).join(', ')}]`,
    );
  if (v.length > 20) lines.push(`  ... and ${v.length - 20} more (see --json / --certificates)`);
  return [...head, ...lines, '!'.repeat(78)].join('\n');
}

/** Certificates as JSON lines (one object per line, trailing newline; non-finite numbers are null). */
export function certificateLines(certs: readonly object[]): string {
  return certs.map((c) => JSON.stringify(c)).join('\n') + (certs.length ? '\n' : '');
}

/** The neuron-status table: one row per activation layer, one column per status, in percent. */
export function formatStatusTable(layers: readonly LayerStatus[]): string {
  const hasRamp = layers.some((l) => l.kind === 'paramramp');
  const hasRelu = layers.some((l) => l.kind !== 'paramramp');
  const cols: string[] = [...(hasRelu ? RELU_STATUSES : []), ...(hasRamp ? RAMP_STATUSES : [])].filter(
    (c, i, a) => a.indexOf(c) === i,
  );
  const body = layers.map((l) => [
    l.layer,
    l.kind,
    String(l.total),
    ...cols.map((c) => (c in l.percent ? `${l.percent[c]!.toFixed(2)}%` : '')),
    ...(layers.some((x) => x.nonFinite > 0) ? [String(l.nonFinite)] : []),
  ]);
  const extra = layers.some((x) => x.nonFinite > 0) ? ['NaN/Inf'] : [];
  return renderTable(['layer', 'kind', 'neurons', ...cols, ...extra], body, 2);
}
