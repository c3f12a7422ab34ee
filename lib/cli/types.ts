/** A `saelab <name>` subcommand. Each lives in lib/cli/commands/<name>.ts and exports `command`. */
export interface CliCommand {
  name: string;
  /** one line for `saelab --help` */
  summary: string;
  /** full usage text for `saelab <name> --help` */
  usage: string;
  /** run with the arguments after the command name; resolve to the exit code */
  run(argv: string[]): Promise<number | void>;
}
