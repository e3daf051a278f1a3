/**
 * Environment variables that tune the runtime (VNET_FUSED, VNET_LBP_WINDOWS, VNET_CROWN_BUDGET_MB),
 * read where a process environment exists. In a browser (the `vnet bundle` page) there is none:
 * every variable reads as unset, so the defaults apply.
 */
export function envVar(name: string): string | undefined {
  return typeof process !== 'undefined' && process.env ? process.env[name] : undefined;
}
