/**
 * Code generation: checked IR → the text of one TypeScript module (ts-morph structures, one pass,
 * in an in-memory project; writer functions for bodies). Pure and deterministic: same IR, same text.
 *
 * The module is straight-line code, one statement group per layer, each with a comment that
 * points back to the spec line. It calls only the hand-written runtime (`rt.*`); every bound
 * method is a fixed composition of runtime primitives:
 * - forward / IBP / LBP: one sweep over the layers;
 * - CROWN-IBP / CROWN-LBP: the IBP / LBP sweep keeps each activation's relaxation, then one
 *   backward pass from the (margin-folded) output through `through_<layer>` functions;
 * - CROWN: each activation's pre-activation bounds by a backward pass of an identity spec
 *   (`rt.crownLayer`, chunked by the runtime), then the output pass.
 * Identifiers come only from validated IR identifiers with fixed prefixes (`v_`, `s_`, `cfg_`,
 * `through_`), so no spec can inject code or collide with the module's own names.
 */
import { IndentationText, NewLineKind, Project, QuoteKind, StructureKind } from 'ts-morph';
import type { CodeBlockWriter, StatementStructures, WriterFunction } from 'ts-morph';
import type { Layer, ModelIR, ParamSpec } from '../ir/ir.js';
import { isActivation } from '../ir/ir.js';
import { opDef } from '../ops/index.js';
import type { EmitNode, OpDef } from '../ops/op.js';
import { internalActShape, internalShape } from '../runtime/layout.js';
import type { ModuleMeta } from '../runtime/module.js';
import { codeString, commentText, compactJson, describeLayer, shapeText } from './describe.js';
import { emitTrainSection } from './emit-train.js';

export const COMPILER_VERSION = '0.1.0';

export interface EmitOptions {
  /** Module specifier of the runtime index as seen from the output file, e.g. `../src/runtime/index.js`. */
  readonly runtimeImport: string;
}

/** The ModuleMeta constant of a model (also used by tests to compare with the emitted text). */
export function moduleMeta(m: ModelIR): ModuleMeta {
  const acts = m.layers.filter((l) => isActivation(l.op)).map((l) => l.name);
  return {
    name: m.name,
    moduleName: m.moduleName,
    sourcePath: m.sourcePath,
    specHash: m.specHash,
    compilerVersion: COMPILER_VERSION,
    input: { shape: m.input.shape, domain: m.input.domain, mean: m.input.mean, std: m.input.std },
    inputCfg: {
      shape: internalActShape(m.input.shape),
      domain: m.input.domain,
      mean: m.input.mean,
      std: m.input.std,
    },
    classes: m.classes,
    layers: m.layers.map((l, i) => ({
      name: l.name,
      kind: l.op.kind,
      inShape: l.inShape,
      outShape: l.outShape,
      line: l.origin.line,
      params: l.params.map((p) => p.name),
      ...(isLink(m, i) ? {} : { inputs: l.inputs }),
    })),
    activations: acts,
    params: m.params.map((p) => ({ ...p, shape: internalShape(p) })),
    paramCount: m.paramCount,
    ...(m.threat ? { threat: m.threat } : {}),
    ...(m.train ? { train: m.train } : {}),
    verify: m.verify,
    evalEta: m.train?.etaSchedule?.to,
  };
}

const paramOf = (l: Layer, role: ParamSpec['role']): string | undefined => {
  const p = l.params.find((q) => q.role === role);
  return p ? `p.${p.ident}` : undefined;
};
const weightOf = (l: Layer): string => paramOf(l, 'dense.weight') ?? paramOf(l, 'conv.weight')!;
const biasOf = (l: Layer): string => paramOf(l, 'bias') ?? 'undefined';

/** Is node i fed by exactly the node before it (or the input, for the first)? */
function isLink(m: ModelIR, i: number): boolean {
  const l = m.layers[i]!;
  return l.inputs.length === 1 && l.inputs[0] === (i === 0 ? 'input' : m.layers[i - 1]!.name);
}

/** `// name: description -> out shape  [path:line]` */
function layerComment(m: ModelIR, l: Layer): string {
  return `// ${l.name}: ${describeLayer(l)} -> ${shapeText(l.outShape)}  [${commentText(m.sourcePath)}:${l.origin.line}]`;
}

/** Names around the nodes of one model: identifiers of inputs, the node a name refers to. */
class Graph {
  readonly byName: ReadonlyMap<string, Layer>;
  /** Every node is fed by the one before it: today's sequential code (nested `through_`). */
  readonly chain: boolean;
  readonly acts: readonly Layer[];
  /** Nonlinear nodes other than activations (max pooling): relaxed from their input's bounds. */
  readonly relaxed: readonly Layer[];
  /** Activations and relaxed nodes, in topological order: the nodes that need input bounds. */
  readonly bounded: readonly Layer[];
  readonly auxNodes: readonly Layer[];
  constructor(readonly m: ModelIR) {
    this.byName = new Map(m.layers.map((l) => [l.name, l]));
    this.chain = m.layers.every((_, i) => isLink(m, i));
    this.acts = m.layers.filter((l) => opDef(l.op.kind).activation !== undefined);
    this.relaxed = m.layers.filter((l) => opDef(l.op.kind).relaxed !== undefined);
    this.bounded = m.layers.filter((l) => this.acts.includes(l) || this.relaxed.includes(l));
    this.auxNodes = m.layers.filter((l) => opDef(l.op.kind).aux !== undefined);
  }
  /** The node feeding input `k` of `l`, or undefined for the network input. */
  source(l: Layer, k = 0): Layer | undefined {
    const name = l.inputs[k]!;
    return name === 'input' ? undefined : this.byName.get(name)!;
  }
  /** `<prefix><ident>` of each input of l (`input` → `whenInput`). */
  inputVars(l: Layer, prefix: string, whenInput: string): string[] {
    return l.inputs.map((name) =>
      name === 'input' ? whenInput : `${prefix}${this.byName.get(name)!.ident}`,
    );
  }
  /** The op emitter's view of a node. */
  node(l: Layer, inputs: readonly string[], aux: string): EmitNode {
    return { l, inputs, param: (role) => paramOf(l, role), cfg: `cfg_${l.ident}`, aux: `${aux}${l.ident}` };
  }
}

/** The emitter of a non-activation op (every op kind has one or is an activation). */
function emitOf(l: Layer): NonNullable<OpDef['emit']> {
  const e = opDef(l.op.kind).emit;
  if (!e) throw new Error(`internal: op '${l.op.kind}' has no emitter`);
  return e;
}

/** Emit the module text for a checked model. */
export function emitModule(m: ModelIR, opts: EmitOptions): string {
  const project = new Project({
    useInMemoryFileSystem: true,
    manipulationSettings: {
      indentationText: IndentationText.TwoSpaces,
      newLineKind: NewLineKind.LineFeed,
      quoteKind: QuoteKind.Single,
    },
  });
  const g = new Graph(m);
  const layers = m.layers;
  const last = layers[layers.length - 1]!;
  const body = layers.slice(0, -1); // everything below the (dense) output layer
  const acts = g.acts;
  const hasAux = g.auxNodes.length > 0;
  const lastSrc = g.source(last);

  const statements: (string | WriterFunction | StatementStructures)[] = [];
  statements.push({
    kind: StructureKind.ImportDeclaration,
    moduleSpecifier: opts.runtimeImport,
    namespaceImport: 'rt',
  });
  statements.push({
    kind: StructureKind.ImportDeclaration,
    moduleSpecifier: opts.runtimeImport,
    namedImports: ['tf'],
  });

  // Params type, activation and relaxation records (type aliases: assignable to rt.ParamSet)
  const paramLines = m.params.flatMap((p) => [
    `/** ${p.name}: torch [${p.torchShape.join(', ')}], internal [${internalShape(p).join(', ')}] */`,
    `readonly ${p.ident}: tf.Variable;`,
  ]);
  statements.push(
    typeAlias(
      `Trainable parameters of network \`${m.name}\`, internal layout (src/runtime/layout.ts).`,
      'export type Params',
      paramLines,
    ),
    typeAlias(
      'Activation functions of one call (η, r resolved by the runtime).',
      'type Acts',
      acts.map((l) => `readonly ${l.ident}: rt.ActSpec;`),
    ),
  );
  if (hasAux)
    statements.push(
      typeAlias(
        "Per-call data of nodes (BatchNorm's scale and shift: running or batch statistics).",
        'type Aux',
        g.auxNodes.map((l) => `readonly ${l.ident}: ${opDef(l.op.kind).aux!.type};`),
      ),
    );
  statements.push(
    typeAlias(
      hasAux
        ? 'Bounding lines of each activation, filled layer by layer, and the per-call data.'
        : 'Bounding lines of each activation, filled layer by layer.',
      'type Relax',
      [
        ...acts.map((l) => `${l.ident}?: rt.ActRelaxation;`),
        ...g.relaxed.map((l) => `${l.ident}?: ${opDef(l.op.kind).relaxed!.type};`),
        ...(hasAux ? ['readonly aux: Aux;'] : []),
      ],
    ),
  );

  // meta and layer configs: constant tables
  statements.push((w) => {
    w.blankLineIfLastNot();
    w.writeLine('/** Everything known about this network at compile time. */');
    w.writeLine(`export const meta: rt.ModuleMeta = ${compactJson(moduleMeta(m))};`);
    for (const l of layers) {
      const cfg = opDef(l.op.kind).config?.(l);
      if (!cfg) continue;
      w.blankLine();
      w.writeLine(layerComment(m, l));
      w.writeLine(`const cfg_${l.ident}: ${cfg.type} = ${compactJson(cfg.value)};`);
    }
    if (!g.chain) {
      const shapes = [m.input.shape, ...layers.map((l) => l.outShape)].map(internalActShape);
      w.blankLine();
      w.writeLine(
        '/** Internal shape of every value (input, then each node): where CROWN sums consumers. */',
      );
      w.writeLine(`const backShapes: readonly (readonly number[])[] = ${compactJson(shapes)};`);
    }
  });

  // initParams
  statements.push({
    kind: StructureKind.Function,
    isExported: true,
    name: 'initParams',
    docs: [
      hasAux
        ? "Fresh parameters with PyTorch's default initialisation (U(±1/√fan_in)); ParamRamp r = 1; BatchNorm 1, 0, running 0, 1."
        : "Fresh parameters with PyTorch's default initialisation (U(±1/√fan_in)); ParamRamp r = 1.",
    ],
    parameters: [{ name: 'seed', type: 'number' }],
    returnType: 'Params',
    statements: (w) => {
      w.writeLine('const rng = rt.rngFromSeed(seed);');
      w.write('return {').newLine();
      w.indent(() =>
        m.params.forEach((p, i) => w.writeLine(`${p.ident}: rt.initParam(meta.params[${i}]!, rng),`)),
      );
      w.writeLine('};');
    },
  });

  // resolveActs
  const actDefs = acts.map((l) => opDef(l.op.kind).activation!);
  statements.push({
    kind: StructureKind.Function,
    name: 'resolveActs',
    parameters: [
      { name: actDefs.some((d) => d.usesParams) ? 'p' : '_p', type: 'Params' },
      { name: actDefs.some((d) => d.usesOptions) ? 'o' : '_o', type: 'rt.RunOptions' },
    ],
    returnType: 'Acts',
    statements: (w) => {
      w.write('return {').newLine();
      w.indent(() => {
        const ordinals = new Map<string, number>(); // e.g. each ParamRamp salts its r noise with its ordinal
        for (const l of acts) {
          const k = ordinals.get(l.op.kind) ?? 0;
          ordinals.set(l.op.kind, k + 1);
          w.writeLine(`${l.ident}: ${opDef(l.op.kind).activation!.spec(g.node(l, [], ''), k)},`);
        }
      });
      w.writeLine('};');
    },
  });

  // forward
  const rampLayers = acts.filter((l) => l.op.kind === 'paramramp');
  const withO = hasAux ? ', o' : '';
  statements.push({
    kind: StructureKind.Function,
    name: 'forwardCore',
    docs: [
      hasAux
        ? 'Forward pass on the normalised input; also hands out every ParamRamp output and the per-call data.'
        : 'Forward pass on the normalised input; also hands out every ParamRamp output.',
    ],
    parameters: [
      { name: 'p', type: 'Params' },
      { name: 'x0', type: 'tf.Tensor' },
      { name: acts.length ? 'a' : '_a', type: 'Acts' },
      ...(hasAux ? [{ name: 'o', type: 'rt.RunOptions' }] : []),
    ],
    returnType: hasAux
      ? '{ logits: tf.Tensor2D; acts: Record<string, tf.Tensor>; aux: Aux }'
      : '{ logits: tf.Tensor2D; acts: Record<string, tf.Tensor> }',
    statements: (w) => {
      for (const l of layers) {
        const [x] = g.inputVars(l, 'v_', 'x0');
        w.writeLine(layerComment(m, l));
        const def = opDef(l.op.kind);
        const node = g.node(l, g.inputVars(l, 'v_', 'x0'), 'aux_');
        if (def.aux) w.writeLine(`const aux_${l.ident} = ${def.aux.expr(node, x!)};`);
        const expr = def.activation ? `rt.actForward(${x!}, a.${l.ident})` : emitOf(l).forward(node);
        w.writeLine(`const v_${l.ident} = ${expr};`);
      }
      const actsObj = rampLayers.map((l) => `${codeString(l.name)}: v_${l.ident}`).join(', ');
      const auxObj = hasAux
        ? `, aux: { ${g.auxNodes.map((l) => `${l.ident}: aux_${l.ident}`).join(', ')} }`
        : '';
      w.writeLine(`return { logits: v_${last.ident}, acts: ${actsObj ? `{ ${actsObj} }` : '{}'}${auxObj} };`);
    },
  });
  statements.push({
    kind: StructureKind.Function,
    isExported: true,
    name: 'forward',
    docs: ['Clean logits [B, K] of a raw input batch (internal layout).'],
    parameters: [
      { name: 'p', type: 'Params' },
      { name: 'x', type: 'tf.Tensor' },
      { name: 'o', type: 'rt.RunOptions', initializer: '{}' },
    ],
    returnType: 'tf.Tensor2D',
    statements: `return tf.tidy(() => forwardCore(p, rt.normalize(x, meta.inputCfg), resolveActs(p, o)${withO}).logits);`,
  });
  statements.push({
    kind: StructureKind.Function,
    isExported: true,
    name: 'activations',
    docs: ['Logits and the output of every ParamRamp layer (used to re-initialise r).'],
    parameters: [
      { name: 'p', type: 'Params' },
      { name: 'x', type: 'tf.Tensor' },
      { name: 'o', type: 'rt.RunOptions', initializer: '{}' },
    ],
    returnType: '{ logits: tf.Tensor2D; acts: Record<string, tf.Tensor> }',
    statements: hasAux
      ? 'return tf.tidy(() => {\n  const f = forwardCore(p, rt.normalize(x, meta.inputCfg), resolveActs(p, o), o);\n  return { logits: f.logits, acts: f.acts };\n});'
      : 'return tf.tidy(() => forwardCore(p, rt.normalize(x, meta.inputCfg), resolveActs(p, o)));',
  });
  if (hasAux)
    statements.push({
      kind: StructureKind.Function,
      name: 'resolveAux',
      docs: [
        'Per-call data: from the running statistics, or (o.bnTrain) from the batch statistics of the clean forward pass of this batch.',
      ],
      parameters: [
        { name: 'p', type: 'Params' },
        { name: 'x0', type: 'tf.Tensor' },
        { name: 'a', type: 'Acts' },
        { name: 'o', type: 'rt.RunOptions' },
      ],
      returnType: 'Aux',
      statements: (w) => {
        w.writeLine('if (o.bnTrain) return forwardCore(p, x0, a, o).aux;');
        w.write('return {').newLine();
        w.indent(() => {
          for (const l of g.auxNodes)
            w.writeLine(`${l.ident}: ${opDef(l.op.kind).aux!.expr(g.node(l, [], ''), 'null')},`);
        });
        w.writeLine('};');
      },
    });

  const auxInit = 'resolveAux(p, box.x, a, o)';
  // IBP and LBP sweeps
  for (const kind of ['ibp', 'lbp'] as const) {
    statements.push(
      boundFunction(
        kind,
        kind === 'ibp'
          ? 'Interval bound propagation (mid/rad form; logits fused).'
          : 'Linear bound propagation: one forward sweep of linear bounds in the input.',
        (w) => {
          if (hasAux) w.writeLine(`const aux = ${auxInit};`);
          sweep(w, g, kind, kind === 'lbp' ? 'relax' : 'none', 'aux.');
          const top = lastSrc ? `s_${lastSrc.ident}` : 's_input';
          w.writeLine(
            `const s_${last.ident} = rt.${kind}Last(${top}, ${weightOf(last)}, ${biasOf(last)}, C);`,
          );
          w.writeLine(
            `return rt.boundResult(s_${last.ident}.l, s_${last.ident}.u, s_${last.ident}.x, o, ${preList(g)});`,
          );
        },
      ),
    );
  }

  const relaxInit = hasAux ? `const r: Relax = { aux: ${auxInit} };` : 'const r: Relax = {};';
  // CROWN-IBP and CROWN-LBP: sweep keeping relaxations, then one backward pass
  for (const [name, kind] of [
    ['crownIbp', 'ibp'],
    ['crownLbp', 'lbp'],
  ] as const) {
    statements.push(
      boundFunction(
        name,
        `CROWN backward pass on ${kind.toUpperCase()} intermediate bounds (${kind === 'ibp' ? 'CROWN-IBP' : 'CROWN-LBP'}).`,
        (w) => {
          w.writeLine(relaxInit);
          sweep(w, g, kind, 'keep', 'r.aux.');
          const top = lastSrc ? `s_${lastSrc.ident}` : 's_input';
          // the forward method's own last layer: the clean logits and its margins (`base`)
          w.writeLine(
            `const s_${last.ident} = rt.${kind}Last(${top}, ${weightOf(last)}, ${biasOf(last)}, C);`,
          );
          w.writeLine('const out = rt.backConcretize(backOutput(p, C, box, o, r), box);');
          w.writeLine(
            `return rt.boundResult(out.lower, out.upper, s_${last.ident}.x, o, ${preList(g)}, [s_${last.ident}.l, s_${last.ident}.u]);`,
          );
        },
      ),
    );
  }

  // full CROWN
  statements.push(
    boundFunction(
      'crown',
      'Full CROWN: every pre-activation bound by its own backward pass, then the output pass.',
      (w) => {
        w.writeLine(relaxInit);
        for (const l of g.bounded) {
          const src = g.source(l);
          w.writeLine(layerComment(m, l));
          if (!src) {
            w.writeLine(`const b_${l.ident} = { lower: box.lo, upper: box.hi };`);
          } else {
            const shape = internalActShape(src.outShape);
            w.writeLine(
              `const b_${l.ident} = rt.crownLayer(box, [${shape.join(', ')}], false, (f) => through_${src.ident}(p, f, r));`,
            );
          }
          const relaxed = opDef(l.op.kind).relaxed;
          w.writeLine(
            relaxed
              ? `r.${l.ident} = ${relaxed.make(g.node(l, [], 'r.aux.'), `b_${l.ident}.lower`, `b_${l.ident}.upper`)};`
              : `r.${l.ident} = rt.relax(a.${l.ident}, b_${l.ident}.lower, b_${l.ident}.upper, lines);`,
          );
        }
        w.writeLine(`const logits = o.noLogits ? null : forwardCore(p, box.x, a${withO}).logits;`);
        w.writeLine('const out = rt.backConcretize(backOutput(p, C, box, o, r), box);');
        const pre = acts
          .map((l) => `[${codeString(l.name)}, b_${l.ident}.lower, b_${l.ident}.upper]`)
          .join(', ');
        w.writeLine(`return rt.boundResult(out.lower, out.upper, logits, o, [${pre}]);`);
      },
    ),
  );

  // backward: the output layer, then the nodes below it
  statements.push({
    kind: StructureKind.Function,
    name: 'backOutput',
    docs: ['The output layer with the specification folded in, then everything below it.'],
    parameters: [
      { name: 'p', type: 'Params' },
      { name: 'C', type: 'tf.Tensor3D | undefined' },
      { name: 'box', type: 'rt.InputBox' },
      { name: 'o', type: 'rt.BoundOptions' },
      { name: lastSrc ? 'r' : '_r', type: 'Relax' },
    ],
    returnType: 'rt.BackState',
    statements: (w) => {
      w.writeLine(layerComment(m, last));
      const f = `rt.backLast(${weightOf(last)}, ${biasOf(last)}, C, box.x.shape[0]!, o.lowerOnly ?? false)`;
      w.writeLine(lastSrc ? `return through_${lastSrc.ident}(p, ${f}, r);` : `return ${f};`);
    },
  });
  if (g.chain) statements.push(...chainThrough(g, body));
  else statements.push(...graphThrough(g, body, lastSrc));

  // dispatcher
  statements.push({
    kind: StructureKind.Function,
    isExported: true,
    name: 'bounds',
    docs: ['Bounds by method name.'],
    parameters: [
      { name: 'p', type: 'Params' },
      { name: 'box', type: 'rt.InputBox' },
      { name: 'method', type: 'rt.BoundMethod' },
      { name: 'o', type: 'rt.BoundOptions', initializer: '{}' },
    ],
    returnType: 'rt.BoundResult',
    statements: (w) => {
      w.write('switch (method)').block(() => {
        w.writeLine("case 'ibp': return ibp(p, box, o);");
        w.writeLine("case 'lbp': return lbp(p, box, o);");
        w.writeLine("case 'crown-ibp': return crownIbp(p, box, o);");
        w.writeLine("case 'crown-lbp': return crownLbp(p, box, o);");
        w.writeLine("case 'crown': return crown(p, box, o);");
      });
    },
  });

  const train = emitTrainSection(m);
  if (train.trim() !== '') statements.push(train);

  const banner =
    `// @generated by vnet ${COMPILER_VERSION} from ${commentText(m.sourcePath)} (sha256 ${m.specHash.slice(0, 16)}).\n` +
    '// Do not edit: change the spec and run `npm run gen` (or `vnet compile`).\n' +
    '/* eslint-disable */\n';
  const sf = project.createSourceFile(
    'module.ts',
    { statements, leadingTrivia: banner },
    { overwrite: true },
  );
  let text = sf.getFullText();
  if (!text.endsWith('\n')) text += '\n';
  return text;
}

/** The CROWN back-step of one node on state `f` (one expression per input). */
function backExprs(g: Graph, l: Layer, f: string): readonly string[] {
  if (opDef(l.op.kind).activation) return [`rt.backAct(${f}, r.${l.ident}!)`];
  const relaxed = opDef(l.op.kind).relaxed;
  if (relaxed) return [relaxed.back(g.node(l, [], 'r.aux.'), f, `r.${l.ident}!`)];
  return emitOf(l).back(g.node(l, [], 'r.aux.'), f);
}

/** Chains: `through_<node>` walks back through the node and calls the one below it. */
function chainThrough(g: Graph, body: readonly Layer[]): StatementStructures[] {
  return body.map((l, i) => ({
    kind: StructureKind.Function,
    name: `through_${l.ident}`,
    docs: [`Backward through \`${l.name}\` and every layer below it.`],
    parameters: [
      { name: 'p', type: 'Params' },
      { name: 'f', type: 'rt.BackState' },
      { name: 'r', type: 'Relax' },
    ],
    returnType: 'rt.BackState',
    statements: (w: CodeBlockWriter) => {
      w.writeLine(layerComment(g.m, l));
      const step = backExprs(g, l, 'f')[0]!;
      w.writeLine(i === 0 ? `return ${step};` : `return through_${body[i - 1]!.ident}(p, ${step}, r);`);
    },
  }));
}

/**
 * Graphs: one table of back-steps (`backSteps`) walked by rt.backWalk in reverse topological
 * order, and `through_<node>` for each node a backward pass starts from.
 */
function graphThrough(g: Graph, body: readonly Layer[], lastSrc: Layer | undefined): StatementStructures[] {
  const index = new Map(g.m.layers.map((l, k) => [l.name, k + 1]));
  const starts = new Set<Layer>(
    [...g.bounded.map((l) => g.source(l)), lastSrc].filter((l) => l !== undefined),
  );
  const out: StatementStructures[] = [
    {
      kind: StructureKind.Function,
      name: 'backSteps',
      docs: [
        'The CROWN back-step of every node below the output layer (inputs as value indices, 0 = input).',
      ],
      parameters: [
        { name: 'p', type: 'Params' },
        { name: 'r', type: 'Relax' },
      ],
      returnType: 'rt.BackStep[]',
      statements: (w) => {
        w.write('return [').newLine();
        w.indent(() => {
          for (const l of body) {
            w.writeLine(layerComment(g.m, l));
            const inputs = l.inputs.map((n) => (n === 'input' ? 0 : index.get(n)!));
            w.writeLine(
              `{ inputs: [${inputs.join(', ')}], step: (f) => [${backExprs(g, l, 'f').join(', ')}] },`,
            );
          }
        });
        w.writeLine('];');
      },
    },
  ];
  for (const l of body) {
    if (!starts.has(l)) continue;
    out.push({
      kind: StructureKind.Function,
      name: `through_${l.ident}`,
      docs: [`Backward from \`${l.name}\` through every node below it.`],
      parameters: [
        { name: 'p', type: 'Params' },
        { name: 'f', type: 'rt.BackState' },
        { name: 'r', type: 'Relax' },
      ],
      returnType: 'rt.BackState',
      statements: `return rt.backWalk(backSteps(p, r), backShapes, ${index.get(l.name)!}, f);`,
    });
  }
  return out;
}

/** A type alias over an object type, written verbatim (ts-morph would add a hanging indent). */
function typeAlias(doc: string, head: string, members: readonly string[]): WriterFunction {
  return (w) => {
    w.blankLineIfLastNot();
    w.writeLine(`/** ${doc} */`);
    if (members.length === 0) {
      w.writeLine(`${head} = Record<never, never>;`);
      return;
    }
    w.writeLine(`${head} = {`);
    w.indent(() => members.forEach((line) => w.writeLine(line)));
    w.writeLine('};');
  };
}

/**
 * One IBP or LBP sweep over every node below the output layer. `relaxMode`:
 * 'none' (IBP: activations are monotone maps), 'relax' (LBP: lines from the stored bounds),
 * 'keep' (also store the lines in `r` for the backward pass that follows). `aux`: where the
 * per-call data lives (`aux.` or `r.aux.`).
 */
function sweep(
  w: CodeBlockWriter,
  g: Graph,
  kind: 'ibp' | 'lbp',
  relaxMode: 'none' | 'relax' | 'keep',
  aux: string,
): void {
  w.writeLine(`const s_input = rt.${kind}Input(box, o);`);
  for (const l of g.m.layers.slice(0, -1)) {
    const ins = g.inputVars(l, 's_', 's_input');
    w.writeLine(layerComment(g.m, l));
    const relaxed = opDef(l.op.kind).relaxed;
    if (relaxed) {
      // like an activation: lines from the input's bounds, kept for the backward pass
      const node = g.node(l, ins, aux);
      const rel = relaxed.make(node, `${ins[0]!}.l`, `${ins[0]!}.u`);
      if (relaxMode === 'keep') w.writeLine(`r.${l.ident} = ${rel};`);
      const lbpRel = relaxMode === 'keep' ? `r.${l.ident}` : rel;
      w.writeLine(
        `const s_${l.ident} = ${kind === 'ibp' ? emitOf(l).ibp(node) : relaxed.lbp(node, lbpRel)};`,
      );
      continue;
    }
    if (!opDef(l.op.kind).activation) {
      const node = g.node(l, ins, aux);
      w.writeLine(`const s_${l.ident} = ${kind === 'ibp' ? emitOf(l).ibp(node) : emitOf(l).lbp(node)};`);
      continue;
    }
    const prev = ins[0]!;
    const rel = `rt.relax(a.${l.ident}, ${prev}.l, ${prev}.u, lines)`;
    if (relaxMode === 'keep') w.writeLine(`r.${l.ident} = ${rel};`);
    if (kind === 'ibp') w.writeLine(`const s_${l.ident} = rt.ibpAct(${prev}, a.${l.ident});`);
    else
      w.writeLine(`const s_${l.ident} = rt.lbpAct(${prev}, ${relaxMode === 'keep' ? `r.${l.ident}` : rel});`);
  }
}

/** `[['relu1', s_conv1.l, s_conv1.u], ...]`: pre-activation bounds of the sweep's activations. */
function preList(g: Graph): string {
  const items = g.acts.map((l) => {
    const src = g.inputVars(l, 's_', 's_input')[0]!;
    return `[${codeString(l.name)}, ${src}.l, ${src}.u]`;
  });
  return `[${items.join(', ')}]`;
}

/** An exported bound function with the common prologue (acts, spec, lines) inside tf.tidy. */
function boundFunction(name: string, doc: string, body: (w: CodeBlockWriter) => void): StatementStructures {
  return {
    kind: StructureKind.Function,
    isExported: true,
    name,
    docs: [`${doc} Bounds on C·logits (margins with labels); see rt.BoundOptions.`],
    parameters: [
      { name: 'p', type: 'Params' },
      { name: 'box', type: 'rt.InputBox' },
      { name: 'o', type: 'rt.BoundOptions', initializer: '{}' },
    ],
    returnType: 'rt.BoundResult',
    statements: (w) => {
      w.writeLine('return rt.tidyBounds(() => {');
      w.indent(() => {
        w.writeLine('const a = resolveActs(p, o);');
        w.writeLine('const C = rt.specFor(o, meta.classes);');
        w.writeLine("const lines = o.lines ?? 'tight';");
        body(w);
      });
      w.writeLine('});');
    },
  };
}
