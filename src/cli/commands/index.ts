/**
 * The command registry: `vnet --help` lists these in this order.
 *
 * Adding a command is one file and one line:
 * 1. `src/cli/commands/<name>.ts` exports a `CommandSpec` (see ../command.ts): its positional
 *    arguments, description, options (`OptionSpec`: long name, optional one-letter short form,
 *    type bool|number|list|string, help, default) and `run(args)`, which returns the exit code and
 *    throws UserError (src/base/errors.ts) for anything the user got wrong. Keep the logic in the
 *    module of its area (src/verify, src/runtime, ...) and the command file thin; shared flags and
 *    checks (`--backend`, `--json`, radii, integer flags) are in ../options.ts.
 * 2. One line below: name, one-line summary, and a loader `() => import('./<name>.js')` picking
 *    the export. The file is loaded only when its command runs or its help is shown, so a command
 *    may import TensorFlow.js at the top; `vnet --help` and `vnet check` stay fast.
 * commander (main.ts) supplies -h/--help, -q/--quiet, -v/--verbose, `vnet help <name>`,
 * `--flag=value`, did-you-mean for unknown options and type checks of values; the progress bars
 * (src/base/progress.ts) and info lines (src/base/output.ts) follow --quiet and --json by themselves.
 */
import type { CommandEntry } from '../command.js';

export const commands: readonly CommandEntry[] = [
  {
    name: 'check',
    summary: 'check specs and print diagnostics',
    load: async () => (await import('./compile.js')).checkCommand,
  },
  {
    name: 'compile',
    summary: 'compile specs to typed TypeScript modules',
    load: async () => (await import('./compile.js')).compileCommand,
  },
  {
    name: 'train',
    summary: "train a spec's network with its certified-training recipe",
    load: async () => (await import('./train.js')).trainCommand,
  },
  {
    name: 'verify',
    summary: 'clean, PGD and verified error of a trained network (IBP, LBP, CROWN family)',
    load: async () => (await import('./verify.js')).verifyCommand,
  },
  {
    name: 'inspect',
    summary:
      'neuron status per layer (dead / unstable / alive; ParamRamp six states) under IBP or LBP bounds',
    load: async () => (await import('./inspect.js')).inspectCommand,
  },
  {
    name: 'report',
    summary:
      'a self-contained HTML report of a training run (curves, verified error, neuron status, bound gaps)',
    load: async () => (await import('./report.js')).reportCommand,
  },
  {
    name: 'init',
    summary: "write freshly initialised weights (PyTorch's default init) as safetensors",
    load: async () => (await import('./init.js')).initCommand,
  },
  {
    name: 'bounds',
    summary: 'certified bounds on the logits or margins of given inputs',
    load: async () => (await import('./bounds.js')).boundsCommand,
  },
  {
    name: 'bundle',
    summary: 'a static web page that certifies the network in the browser (wasm SIMD or WebGPU)',
    load: async () => (await import('./bundle.js')).bundleCommand,
  },
  {
    name: 'import',
    summary: 'import an ONNX model as a .vnet spec and safetensors weights',
    load: async () => (await import('./import.js')).importCommand,
  },
  {
    name: 'export',
    summary: 'export a network and its weights as an ONNX model',
    load: async () => (await import('./export.js')).exportCommand,
  },
  {
    name: 'vnncomp',
    summary: 'run VNN-COMP instances (ONNX + VNN-LIB) and summarise or compare the results',
    load: async () => (await import('./vnncomp.js')).vnncompCommand,
  },
  {
    name: 'run-instance',
    summary: "verify one VNN-COMP instance (the competition's run_instance contract)",
    load: async () => (await import('./vnncomp.js')).runInstanceCommand,
  },
  {
    name: 'merge',
    summary: 'join the results files of a sharded verify run (checks each batch is covered exactly once)',
    load: async () => (await import('./merge.js')).mergeCommand,
  },
  {
    name: 'check-certificates',
    summary: 're-check a certificates file against the weights with the rigorous binary64 checker',
    load: async () => (await import('./check-certificates.js')).checkCertificatesCommand,
  },
];
