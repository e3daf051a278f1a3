import { loadSpecModule } from './src/codegen/load.js';
import { saveParams } from './src/runtime/io/safetensors.js';
import { initBackend } from './src/runtime/backend.js';
await initBackend('wasm');
for (const spec of process.argv.slice(2)) {
  const mod = await loadSpecModule(spec);
  const p = mod.initParams(1);
  const out = `/tmp/vw/${mod.meta.moduleName}.safetensors`;
  saveParams(out, mod.meta, p);
  console.log(out, mod.meta.activations, mod.meta.evalEta);
}
