/**
 * Names that reach generated code. A layer or network name must be a plain identifier
 * (`[A-Za-z_][A-Za-z0-9_]*`), must not be a JavaScript/TypeScript reserved word or a name the
 * generated module uses itself, and must stay unique once parameter identifiers (`fc1_weight`)
 * are derived from it. The checker rejects everything else, so codegen never has to escape a
 * name and a spec cannot inject code.
 */

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Reserved: ECMAScript reserved words (strict mode included), literals and globals that must not
 * be shadowed, property names with special meaning on plain objects, and `input` (the name
 * layers use for the network input).
 */
export const RESERVED_NAMES: ReadonlySet<string> = new Set(
  [
    // ECMAScript reserved words, strict mode included
    'await break case catch class const continue debugger default delete do else enum export extends false',
    'finally for function if import in instanceof new null return super switch this throw true try typeof',
    'var void while with yield implements interface let package private protected public static',
    // restricted or commonly shadowed globals, and special property names
    'arguments eval undefined NaN Infinity globalThis constructor prototype __proto__ hasOwnProperty',
    'toString valueOf',
    // the network input in Layer.inputs
    'input',
  ]
    .join(' ')
    .split(' '),
);

/** Why `name` cannot be used in generated code, or undefined if it can. */
export function nameProblem(name: string): 'invalid' | 'reserved' | undefined {
  if (!IDENTIFIER.test(name)) return 'invalid';
  if (RESERVED_NAMES.has(name)) return 'reserved';
  return undefined;
}

/** A valid identifier close to `name` (`my-conv` → `my_conv`, `1x` → `_1x`). */
export function suggestIdentifier(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(s) || s === '' ? `_${s}` : s;
}

/** The identifier of parameter `param` of layer `layer` (`fc1` + `weight` → `fc1_weight`). */
export const paramIdent = (layer: string, param: string): string => `${layer}_${param}`;
