import * as fs from 'fs';
import * as path from 'path';
import { CliCommand } from './types';

/** Discover commands: every module in ./commands exporting `command`. */
export function loadCommands(): Map<string, CliCommand> {
  const dir = path.join(__dirname, 'commands');
  const cmds = new Map<string, CliCommand>();
  if (!fs.existsSync(dir)) return cmds;
  for (const f of fs.readdirSync(dir).sort()) {
    if (!f.endsWith('.js')) continue;
    const mod = require(path.join(dir, f)) as { command?: CliCommand };
    if (mod.command) cmds.set(mod.command.name, mod.command);
  }
  return cmds;
}

/**
 * The command `name` alone, when its module is commands/<name>.js (every command's file is named after it): a
 * command starts without loading every other command's libraries. Undefined when there is no such file.
 */
export function loadCommand(name: string): CliCommand | undefined {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) return undefined;
  const file = path.join(__dirname, 'commands', `${name}.js`);
  if (!fs.existsSync(file)) return undefined;
  const mod = require(file) as { command?: CliCommand };
  return mod.command?.name === name ? mod.command : undefined;
}

function help(cmds: Map<string, CliCommand>): string {
  const lines = ['usage: saelab <command> [options]', '', 'commands:'];
  for (const c of cmds.values()) lines.push(`  ${c.name.padEnd(20)} ${c.summary}`);
  lines.push('', 'saelab <command> --help shows a command\'s options.');
  return lines.join('\n');
}

/** Entry point of the `saelab` binary. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help(loadCommands()));
    return name ? 0 : 1;
  }
  const cmd = loadCommand(name) ?? loadCommands().get(name);
  if (!cmd) {
    console.error(`saelab: unknown command '${name}'\n\n${help(loadCommands())}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(cmd.usage);
    return 0;
  }
  try {
    const code = await cmd.run(rest);
    return typeof code === 'number' ? code : 0;
  } catch (e) {
    console.error(`saelab ${name}: ${(e as Error).message}`);
    if (process.env.SAELAB_DEBUG) console.error((e as Error).stack);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
