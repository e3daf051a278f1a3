/**
 * A vnet network (map.ts) → `.vnet` text, one line per layer, in the graph syntax: a layer line is
 * `[name =] op(args)`, and leading positional identifiers name its inputs (`y = add(a, b)`); the
 * inputs are written only when they are not just the previous line (or `input` for the first
 * line), so chains read as today's sequential dialect. Names are written only when they differ
 * from the checker's default `<kind><n>`.
 *
 * Every piece of text that comes from the ONNX file (node names, the file name, the producer) is
 * user text: it appears only inside `//` comments and only through `commentText`, which keeps
 * printable ASCII and escapes everything else, so no name can end a comment or inject a line.
 */
import type { Op } from '../ir/ir.js';
import { numText } from '../ops/common.js';
import { opDef } from '../ops/index.js';
import type { VLayer, VNetwork } from './map.js';

/** User text as the inside of a `//` comment: printable ASCII only, the rest as \u{…} escapes. */
export const commentText = (s: string): string =>
  s.replace(/[^\x20-\x7e]|\\/g, (ch) => (ch === '\\' ? '\\\\' : `\\u{${ch.codePointAt(0)!.toString(16)}}`));

export { numText } from '../ops/common.js';

/** The call text of an op (without inputs): its rule in src/ops/<kind>.ts. */
export function opText(op: Op): { readonly kind: string; readonly args: readonly string[] } {
  const t = opDef(op.kind).text(op);
  return { kind: t.name, args: t.args };
}

/** The layer lines (code and comment), aligned. */
function layerLines(layers: readonly VLayer[]): string[] {
  const counts = new Map<string, number>();
  const code = layers.map((l, i) => {
    const { kind, args } = opText(l.op);
    const n = (counts.get(kind) ?? 0) + 1;
    counts.set(kind, n);
    const prev = i === 0 ? 'input' : layers[i - 1]!.name;
    const explicit = l.inputs.length === 1 && l.inputs[0] === prev ? [] : [...l.inputs];
    const all = [...explicit, ...args];
    const call = all.length ? `${kind}(${all.join(', ')})` : kind;
    return l.name === `${kind}${n}` ? call : `${l.name} = ${call}`;
  });
  const width = Math.min(60, Math.max(...code.map((c) => c.length)));
  return layers.map((l, i) => {
    const note = [...l.onnx, ...(l.note ? [l.note] : [])];
    return note.length ? `${code[i]!.padEnd(width)}  // ${commentText(note.join(', '))}` : code[i]!;
  });
}

export interface SpecHeader {
  /** The ONNX file's base name, producer, opset and IR version (user text: sanitised here). */
  readonly file: string;
  readonly producer: string;
  readonly opset: number;
  readonly irVersion: number;
  readonly weightsFile: string;
}

const listText = (v: readonly number[]): string => `[${v.map(numText).join(', ')}]`;

/** How the ONNX input's elements map onto vnet's input (the comment above `input`). */
function inputComment(net: VNetwork): string[] {
  const i = net.input;
  const onnx = `ONNX input '${commentText(i.onnxName)}' [${i.onnxShape.join(', ')}]`;
  if (i.layout === 'vector')
    return [`${onnx}: the vector of its ${i.shape[0]} values in row-major order (X_i = input[i])`];
  const [C, H, W] = i.shape as [number, number, number];
  return i.layout === 'nchw'
    ? [`${onnx}, NCHW: element (c, h, w) is X_((c*${H} + h)*${W} + w), row-major as in VNN-LIB`]
    : [`${onnx}, NHWC: element (c, h, w) of vnet's ${C}x${H}x${W} input is X_((h*${W} + w)*${C} + c)`];
}

/** The whole `.vnet` text of an imported network. */
export function writeVnet(
  name: string,
  net: VNetwork,
  domain: readonly [number, number] | undefined,
  header: SpecHeader,
): string {
  const i = net.input;
  const shape = i.shape.join('x');
  const absorbed = i.onnx.length ? `   // ${commentText(i.onnx.join(', '))}` : '';
  const opts = [
    `  input   = ${shape}${absorbed}`,
    `  domain  = ${domain ? listText(domain) : 'unbounded'}`,
    ...(i.mean.length === 1 && i.mean[0] === 0 ? [] : [`  mean    = ${listText(i.mean)}`]),
    ...(i.std.length === 1 && i.std[0] === 1 ? [] : [`  std     = ${listText(i.std)}`]),
    `  classes = ${net.classes}`,
  ];
  return [
    `// Imported by \`vnet import\` from ${commentText(header.file)} (producer '${commentText(header.producer)}', ONNX opset ${header.opset}, IR version ${header.irVersion}).`,
    `// Weights: ${commentText(header.weightsFile)} (PyTorch names and layouts). Comments name the ONNX nodes of each line.`,
    ...inputComment(net).map((l) => `// ${l}`),
    ...(i.onnx.length
      ? [
          '// The ONNX nodes named on the input line are its normalisation and layout (or fold into the first layer).',
        ]
      : []),
    '',
    `network ${name} {`,
    ...opts,
    '',
    '  layers {',
    ...layerLines(net.layers).map((l) => `    ${l}`),
    '  }',
    '}',
    '',
  ].join('\n');
}
