import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { loadCommand, loadCommands } from '../../lib/cli/main';

// `saelab <name>` loads only commands/<name>.js: every command must live in the file named after it.
test('every command is found by its own file alone, as `saelab <name>` loads it', () => {
  const all = loadCommands();
  const files = fs.readdirSync(path.join(__dirname, '..', '..', 'lib', 'cli', 'commands')).filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3)).sort();
  assert.deepEqual([...all.keys()].sort(), files);
  for (const [name, cmd] of all) assert.equal(loadCommand(name), cmd, name);
});

test('a name that is no command file, or not a plain name, finds nothing', () => {
  for (const name of ['no-such-command', '../main', 'Cache', '', 'types']) assert.equal(loadCommand(name), undefined, name);
});
