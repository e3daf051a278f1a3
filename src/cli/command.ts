/** The shape of one CLI subcommand. Each lives in `src/cli/commands/<name>.ts`. */
export interface Command {
  readonly name: string;
  /** One line for `vnet --help`. */
  readonly summary: string;
  /** Full help text for `vnet <name> --help`. */
  readonly help: string;
  /** Returns the exit code (0 ok, 1 user error). Throw UserError for user errors. */
  run(argv: readonly string[]): Promise<number>;
}
