/** Headless Chromium as saelab drives it leaves nothing behind in the temporary folder once closed. */
import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import { tmpDir } from '../helpers';
import { Chromium, findChromium } from '../../lib/browser/chromium';

test('closing Chromium removes its profile and its own temporary files (/tmp/org.chromium.Chromium.*)', async () => {
  if (!findChromium()) assert.fail('no Chromium: apt-get install -y --no-install-recommends chromium fonts-dejavu-core');
  const tmp = tmpDir('chromium-tmp-');
  const browser = await Chromium.launch({ tmpDir: tmp });
  assert.ok(fs.readdirSync(tmp).some((f) => f.startsWith('saelab-chromium-')), 'the profile is in the given folder');
  await browser.close();
  assert.deepStrictEqual(fs.readdirSync(tmp), [], 'nothing is left');
});
