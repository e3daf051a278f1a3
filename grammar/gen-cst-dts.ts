/**
 * Regenerates `grammar/cst.d.ts` (the typed CST children interfaces) from the parser's grammar.
 * Run `npm run gen:cst` after changing `grammar/parser.ts`; a test fails while it is stale.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cstDtsText } from './cst-dts.js';

writeFileSync(fileURLToPath(new URL('./cst.d.ts', import.meta.url)), cstDtsText());
