/**
 * Transpiles src/ and grammar/ to dist/src/ and dist/grammar/ (one .js per .ts, same layout, no
 * bundling) with esbuild, so the CLI
 * starts without a TypeScript loader: `vnet --help` and `vnet check` in well under 0.3 s instead
 * of about 1.2 s through tsx. bin/vnet.js calls `ensureDist` on every start: it rebuilds only when
 * a source file changed (a stamp of every file's path, size and mtime), writing each output file
 * atomically, so concurrent starts are safe. Run directly (`node scripts/build-dist.mjs`) to build.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Packages bundled into dist/vendor/ (see buildDist). */
const VENDORED = ['chevrotain'];

/** The folders transpiled (the sources import grammar/). */
const FOLDERS = ['src', 'grammar'];

/** Every .ts file under the folders (paths relative to the root, sorted). */
function sources(root) {
  return FOLDERS.flatMap((d) =>
    readdirSync(join(root, d), { recursive: true })
      .map((f) => join(d, String(f)))
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')),
  ).sort();
}

/** Every other file under src/ that the code reads next to itself (onnx.proto, worker.mjs, ...). */
function assets(root) {
  return readdirSync(join(root, 'src'), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && !e.name.endsWith('.ts'))
    .map((e) => relative(root, join(e.parentPath ?? e.path, e.name)))
    .sort();
}

/** A digest of the sources' (and assets') paths, sizes and modification times. */
export function sourceStamp(root = ROOT) {
  const h = createHash('sha256');
  for (const f of [...sources(root), ...assets(root)]) {
    const st = statSync(join(root, f));
    h.update(`${f}\0${st.size}\0${st.mtimeMs}\n`);
  }
  return h.digest('hex');
}

function writeAtomic(path, data) {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** Transpiles src/ into dist/ and writes the stamp (last). */
export async function buildDist(root = ROOT) {
  const stamp = sourceStamp(root);
  const { build } = await import('esbuild');
  const res = await build({
    entryPoints: sources(root).map((f) => join(root, f)),
    outdir: join(root, 'dist'),
    outbase: root,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    bundle: false,
    write: false,
    logLevel: 'error',
  });
  // Dependencies made of thousands of small modules load slowly (chevrotain pulls in lodash-es,
  // 2,300 files, about 0.4 s): they are bundled once into dist/vendor/ and imported from there.
  const vendor = await build({
    entryPoints: Object.fromEntries(VENDORED.map((p) => [p, p])),
    outdir: join(root, 'dist', 'vendor'),
    absWorkingDir: root,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    write: false,
    logLevel: 'error',
  });
  for (const f of vendor.outputFiles) writeAtomic(f.path, f.contents);
  for (const f of res.outputFiles) {
    let text = f.text;
    for (const p of VENDORED) {
      let rel = relative(dirname(f.path), join(root, 'dist', 'vendor', `${p}.js`))
        .split('\\')
        .join('/');
      if (!rel.startsWith('.')) rel = `./${rel}`;
      text = text.split(`from "${p}"`).join(`from "${rel}"`);
    }
    writeAtomic(f.path, text);
  }
  for (const f of assets(root)) writeAtomic(join(root, 'dist', f), readFileSync(join(root, f)));
  writeAtomic(join(root, 'dist', '.stamp'), stamp);
  return join(root, 'dist');
}

/** The dist/ directory, rebuilt first if the sources changed since it was built. */
export async function ensureDist(root = ROOT) {
  let built = '';
  try {
    built = readFileSync(join(root, 'dist', '.stamp'), 'utf8');
  } catch {
    // not built yet
  }
  if (built === sourceStamp(root)) return join(root, 'dist');
  return buildDist(root);
}

if (process.argv[1] && relative(process.argv[1], fileURLToPath(import.meta.url)) === '') {
  const out = await buildDist();
  console.log(`built ${out}`);
}
