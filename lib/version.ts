import * as fs from 'fs';
import * as path from 'path';

/** The saelab repository root (where package.json lives), found from this file's location. */
export const SAELAB_ROOT: string = (() => {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const p = path.join(dir, 'package.json');
    if (fs.existsSync(p) && JSON.parse(fs.readFileSync(p, 'utf8')).name === 'saelab') return dir;
    dir = path.dirname(dir);
  }
  return process.cwd();
})();

/** saelab's version from package.json. */
export const SAELAB_VERSION: string = JSON.parse(fs.readFileSync(path.join(SAELAB_ROOT, 'package.json'), 'utf8')).version;
