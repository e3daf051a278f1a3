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
import { internalActShape, internalShape } from '../runtime/layout.js';
import type { ModuleMeta } from '../runtime/module.js';
import { codeString, commentText, compactJson, describeLayer, num, shapeText } from './describe.js';
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
    layers: m.layers.map((l) => ({
      name: l.name,
      kind: l.op.kind,
      inShape: l.inShape,
      outShape: l.outShape,
      line: l.origin.line,
      params: l.params.map((p) => p.name),
    })),
    activations: acts,
    params: m.params.map((p) => ({ ...p, shape: internalShape(p) })),
    paramCount: m.paramCount,
    threat: m.threat,
    train: m.train,
    verify: m.verify,
    evalEta: m.train.etaSchedule?.to,
  };
}

const paramOf = (l: Layer, role: ParamSpec['role']): string | undefined => {
  const p = l.params.find((q) => q.role === role);
  return p ? `p.${p.ident}` : undefined;
};
const weightOf = (l: Layer): string => paramOf(l, 'dense.weight') ?? paramOf(l, 'conv.weight')!;
const biasOf = (l: Layer): string => paramOf(l, 'bias') ?? 'undefined';

/** `// name: description -> out shape  [path:line]` */
function layerComment(m: ModelIR, l: Layer): string {
  return `// ${l.name}: ${describeLayer(l)} -> ${shapeText(l.outShape)}  [${commentText(m.sourcePath)}:${l.origin.line}]`;
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
  const layers = m.layers;
  const last = layers[layers.length - 1]!;
  const body = layers.slice(0, -1); // everything below the (dense) output layer
  const acts = layers.filter((l) => isActivation(l.op));
  const prevName = (i: number): string => (i === 0 ? 'input' : layers[i - 1]!.ident);

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
    typeAlias(
      'Bounding lines of each activation, filled layer by layer.',
      'type Relax',
      acts.map((l) => `${l.ident}?: rt.ActRelaxation;`),
    ),
  );

  // meta and layer configs: constant tables
  statements.push((w) => {
    w.blankLineIfLastNot();
    w.writeLine('/** Everything known about this network at compile time. */');
    w.writeLine(`export const meta: rt.ModuleMeta = ${compactJson(moduleMeta(m))};`);
    for (const l of layers) {
      if (l.op.kind !== 'conv2d') continue;
      const cfg = {
        kernel: l.op.kernel,
        stride: l.op.stride,
        padding: l.op.padding,
        inShape: internalActShape(l.inShape),
        outShape: internalActShape(l.outShape),
      };
      w.blankLine();
      w.writeLine(layerComment(m, l));
      w.writeLine(`const cfg_${l.ident}: rt.Conv2dCfg = ${compactJson(cfg)};`);
    }
  });

  // initParams
  statements.push({
    kind: StructureKind.Function,
    isExported: true,
    name: 'initParams',
    docs: ["Fresh parameters with PyTorch's default initialisation (U(±1/√fan_in)); ParamRamp r = 1."],
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
  statements.push({
    kind: StructureKind.Function,
    name: 'resolveActs',
    parameters: [
      { name: acts.some((l) => l.op.kind === 'paramramp') ? 'p' : '_p', type: 'Params' },
      { name: acts.some((l) => l.op.kind !== 'relu') ? 'o' : '_o', type: 'rt.RunOptions' },
    ],
    returnType: 'Acts',
    statements: (w) => {
      w.write('return {').newLine();
      w.indent(() => {
        let ramps = 0; // each ParamRamp layer salts the r-noise seed with its ordinal
        for (const l of acts) {
          const op = l.op;
          if (op.kind === 'relu') w.writeLine(`${l.ident}: rt.relu(),`);
          else if (op.kind === 'leaky_relu') w.writeLine(`${l.ident}: rt.leakyRelu(${num(op.slope)}, o),`);
          else if (op.kind === 'paramramp')
            w.writeLine(`${l.ident}: rt.paramRamp(${paramOf(l, 'ramp.r')!}, ${num(op.eta)}, o, ${ramps++}),`);
        }
      });
      w.writeLine('};');
    },
  });

  // forward
  const rampLayers = acts.filter((l) => l.op.kind === 'paramramp');
  statements.push({
    kind: StructureKind.Function,
    name: 'forwardCore',
    docs: ['Forward pass on the normalised input; also hands out every ParamRamp output.'],
    parameters: [
      { name: 'p', type: 'Params' },
      { name: 'x0', type: 'tf.Tensor' },
      { name: acts.length ? 'a' : '_a', type: 'Acts' },
    ],
    returnType: '{ logits: tf.Tensor2D; acts: Record<string, tf.Tensor> }',
    statements: (w) => {
      layers.forEach((l, i) => {
        const x = i === 0 ? 'x0' : `v_${prevName(i)}`;
        w.writeLine(layerComment(m, l));
        w.writeLine(`const v_${l.ident} = ${forwardExpr(l, x)};`);
      });
      const actsObj = rampLayers.map((l) => `${codeString(l.name)}: v_${l.ident}`).join(', ');
      w.writeLine(`return { logits: v_${last.ident}, acts: ${actsObj ? `{ ${actsObj} }` : '{}'} };`);
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
    statements:
      'return tf.tidy(() => forwardCore(p, rt.normalize(x, meta.inputCfg), resolveActs(p, o)).logits);',
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
    statements: 'return tf.tidy(() => forwardCore(p, rt.normalize(x, meta.inputCfg), resolveActs(p, o)));',
  });

  // IBP and LBP sweeps
  for (const kind of ['ibp', 'lbp'] as const) {
    statements.push(
      boundFunction(
        kind,
        kind === 'ibp'
          ? 'Interval bound propagation (mid/rad form; logits fused).'
          : 'Linear bound propagation: one forward sweep of linear bounds in the input.',
        (w) => {
          sweep(w, m, kind, kind === 'lbp' ? 'relax' : 'none');
          w.writeLine(
            `const s_${last.ident} = rt.${kind}Last(s_${prevName(layers.length - 1)}, ${weightOf(last)}, ${biasOf(last)}, C);`,
          );
          w.writeLine(
            `return rt.boundResult(s_${last.ident}.l, s_${last.ident}.u, s_${last.ident}.x, o, ${preList(m)});`,
          );
        },
      ),
    );
  }

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
          w.writeLine('const r: Relax = {};');
          sweep(w, m, kind, 'keep');
          const top = `s_${prevName(layers.length - 1)}`;
          // the forward method's own last layer: the clean logits and its margins (`base`)
          w.writeLine(
            `const s_${last.ident} = rt.${kind}Last(${top}, ${weightOf(last)}, ${biasOf(last)}, C);`,
          );
          w.writeLine('const out = rt.backConcretize(backOutput(p, C, box, o, r), box);');
          w.writeLine(
            `return rt.boundResult(out.lower, out.upper, s_${last.ident}.x, o, ${preList(m)}, [s_${last.ident}.l, s_${last.ident}.u]);`,
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
        w.writeLine('const r: Relax = {};');
        for (const l of acts) {
          const src = layers[l.index - 1];
          w.writeLine(layerComment(m, l));
          if (!src) {
            w.writeLine(`const b_${l.ident} = { lower: box.lo, upper: box.hi };`);
          } else {
            const shape = internalActShape(src.outShape);
            w.writeLine(
              `const b_${l.ident} = rt.crownLayer(box, [${shape.join(', ')}], false, (f) => through_${src.ident}(p, f, r));`,
            );
          }
          w.writeLine(
            `r.${l.ident} = rt.relax(a.${l.ident}, b_${l.ident}.lower, b_${l.ident}.upper, lines);`,
          );
        }
        w.writeLine('const logits = o.noLogits ? null : forwardCore(p, box.x, a).logits;');
        w.writeLine('const out = rt.backConcretize(backOutput(p, C, box, o, r), box);');
        const pre = acts
          .map((l) => `[${codeString(l.name)}, b_${l.ident}.lower, b_${l.ident}.upper]`)
          .join(', ');
        w.writeLine(`return rt.boundResult(out.lower, out.upper, logits, o, [${pre}]);`);
      },
    ),
  );

  // backward chain
  statements.push({
    kind: StructureKind.Function,
    name: 'backOutput',
    docs: ['The output layer with the specification folded in, then everything below it.'],
    parameters: [
      { name: 'p', type: 'Params' },
      { name: 'C', type: 'tf.Tensor3D | undefined' },
      { name: 'box', type: 'rt.InputBox' },
      { name: 'o', type: 'rt.BoundOptions' },
      { name: body.length ? 'r' : '_r', type: 'Relax' },
    ],
    returnType: 'rt.BackState',
    statements: (w) => {
      w.writeLine(layerComment(m, last));
      const f = `rt.backLast(${weightOf(last)}, ${biasOf(last)}, C, box.x.shape[0]!, o.lowerOnly ?? false)`;
      w.writeLine(
        body.length ? `return through_${body[body.length - 1]!.ident}(p, ${f}, r);` : `return ${f};`,
      );
    },
  });
  body.forEach((l, i) => {
    statements.push({
      kind: StructureKind.Function,
      name: `through_${l.ident}`,
      docs: [`Backward through \`${l.name}\` and every layer below it.`],
      parameters: [
        { name: 'p', type: 'Params' },
        { name: 'f', type: 'rt.BackState' },
        { name: 'r', type: 'Relax' },
      ],
      returnType: 'rt.BackState',
      statements: (w) => {
        w.writeLine(layerComment(m, l));
        const step = backExpr(l, 'f');
        w.writeLine(i === 0 ? `return ${step};` : `return through_${layers[i - 1]!.ident}(p, ${step}, r);`);
      },
    });
  });

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

function forwardExpr(l: Layer, x: string): string {
  switch (l.op.kind) {
    case 'dense':
      return `rt.dense(${x}, ${weightOf(l)}, ${biasOf(l)})`;
    case 'conv2d':
      return `rt.conv2d(${x}, ${weightOf(l)}, ${biasOf(l)}, cfg_${l.ident})`;
    case 'flatten':
      return `rt.flatten(${x})`;
    case 'relu':
    case 'leaky_relu':
    case 'paramramp':
      return `rt.actForward(${x}, a.${l.ident})`;
  }
}

function backExpr(l: Layer, f: string): string {
  switch (l.op.kind) {
    case 'dense':
      return `rt.backDense(${f}, ${weightOf(l)}, ${biasOf(l)})`;
    case 'conv2d':
      return `rt.backConv2d(${f}, ${weightOf(l)}, ${biasOf(l)}, cfg_${l.ident})`;
    case 'flatten':
      return `rt.backFlatten(${f}, [${internalActShape(l.inShape).join(', ')}])`;
    case 'relu':
    case 'leaky_relu':
    case 'paramramp':
      return `rt.backAct(${f}, r.${l.ident}!)`;
  }
}

/**
 * One IBP or LBP sweep over every layer below the output layer. `relaxMode`:
 * 'none' (IBP: activations are monotone maps), 'relax' (LBP: lines from the stored bounds),
 * 'keep' (also store the lines in `r` for the backward pass that follows).
 */
function sweep(
  w: CodeBlockWriter,
  m: ModelIR,
  kind: 'ibp' | 'lbp',
  relaxMode: 'none' | 'relax' | 'keep',
): void {
  w.writeLine(`const s_input = rt.${kind}Input(box, o);`);
  m.layers.slice(0, -1).forEach((l, i) => {
    const prev = i === 0 ? 's_input' : `s_${m.layers[i - 1]!.ident}`;
    w.writeLine(layerComment(m, l));
    switch (l.op.kind) {
      case 'dense':
        w.writeLine(`const s_${l.ident} = rt.${kind}Dense(${prev}, ${weightOf(l)}, ${biasOf(l)});`);
        break;
      case 'conv2d':
        w.writeLine(
          `const s_${l.ident} = rt.${kind}Conv2d(${prev}, ${weightOf(l)}, ${biasOf(l)}, cfg_${l.ident});`,
        );
        break;
      case 'flatten':
        w.writeLine(`const s_${l.ident} = rt.${kind}Flatten(${prev});`);
        break;
      case 'relu':
      case 'leaky_relu':
      case 'paramramp': {
        const rel = `rt.relax(a.${l.ident}, ${prev}.l, ${prev}.u, lines)`;
        if (relaxMode === 'keep') w.writeLine(`r.${l.ident} = ${rel};`);
        if (kind === 'ibp') w.writeLine(`const s_${l.ident} = rt.ibpAct(${prev}, a.${l.ident});`);
        else
          w.writeLine(
            `const s_${l.ident} = rt.lbpAct(${prev}, ${relaxMode === 'keep' ? `r.${l.ident}` : rel});`,
          );
        break;
      }
    }
  });
}

/** `[['relu1', s_conv1.l, s_conv1.u], ...]`: pre-activation bounds of the sweep's activations. */
function preList(m: ModelIR): string {
  const items = m.layers
    .filter((l) => isActivation(l.op))
    .map((l) => {
      const src = l.index === 0 ? 's_input' : `s_${m.layers[l.index - 1]!.ident}`;
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
