/** Numbers as TypeScript literals in generated code (used by the code generator and the op emitters). */

/** A finite number as a TypeScript literal (round-trips exactly). */
export function num(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`internal: non-finite number ${n} in codegen`);
  return Object.is(n, -0) ? '0' : String(n);
}
