/**
 * Writes test/fixtures/texts.parquet with an independent parquet writer (hyparquet-writer@0.17.0,
 * fetched with `npm pack`, not a saelab dependency): 25 rows in row groups of 10, columns
 * `id` (INT32) and `text` (STRING, snappy), row i's text = `Document ${i}: ${'word '.repeat(i % 7)}end.`
 * The tests rebuild the expected texts from that formula.
 *
 *   (cd /tmp && npm pack hyparquet-writer@0.17.0 && tar xzf hyparquet-writer-0.17.0.tgz \
 *     && mkdir -p package/node_modules && ln -s <saelab>/node_modules/hyparquet package/node_modules/hyparquet)
 *   node tools/make-parquet-fixture.mjs /tmp/package
 */
import path from 'path';
import fs from 'fs';
import { pathToFileURL, fileURLToPath } from 'url';

const pkg = process.argv[2];
if (!pkg) throw new Error('usage: node tools/make-parquet-fixture.mjs <extracted hyparquet-writer package dir>');
const { parquetWriteBuffer } = await import(pathToFileURL(path.resolve(pkg, 'src/index.js')).href);
const n = 25;
const ids = Array.from({ length: n }, (_, i) => i);
const texts = ids.map((i) => `Document ${i}: ${'word '.repeat(i % 7)}end.`);
const buf = parquetWriteBuffer({
  columnData: [{ name: 'id', data: Int32Array.from(ids), type: 'INT32' }, { name: 'text', data: texts, type: 'STRING' }],
  rowGroupSize: 10,
});
const out = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'texts.parquet');
fs.writeFileSync(out, Buffer.from(buf));
console.log(`wrote ${out} (${buf.byteLength} bytes)`);
