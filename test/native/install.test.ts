import { test } from 'node:test';
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { REPO_ROOT, tmpDir } from '../helpers';

test('the install-time build prints one line and exits 0 when no compiler is found', () => {
  // A copy of the build script and sources, run with a PATH that has node but no compiler.
  const dir = tmpDir('saelab-native-build-');
  fs.mkdirSync(path.join(dir, 'scripts'));
  fs.copyFileSync(path.join(REPO_ROOT, 'scripts', 'build-native.js'), path.join(dir, 'scripts', 'build-native.js'));
  fs.cpSync(path.join(REPO_ROOT, 'native', 'src'), path.join(dir, 'native', 'src'), { recursive: true });
  fs.copyFileSync(path.join(REPO_ROOT, 'native', 'binding.gyp'), path.join(dir, 'native', 'binding.gyp'));
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  const r = spawnSync(process.execPath, [path.join(dir, 'scripts', 'build-native.js')], {
    env: { PATH: bin, HOME: dir }, encoding: 'utf8',
  });
  assert.strictEqual(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.strictEqual(lines.length, 1, r.stdout);
  assert.match(lines[0], /^saelab: native backend not built: no C\+\+ compiler found .*; saelab will use the wasm backend\.$/);
  const recorded = fs.readFileSync(path.join(dir, 'native', 'build', 'BUILD_FAILED.txt'), 'utf8');
  assert.match(recorded, /no C\+\+ compiler found/);
});

test('a missing BLAS library: the build prints one line naming it, exits 0, and saelab then runs on wasm', () => {
  const dir = tmpDir('saelab-native-nolib-');
  fs.mkdirSync(path.join(dir, 'scripts'));
  fs.copyFileSync(path.join(REPO_ROOT, 'scripts', 'build-native.js'), path.join(dir, 'scripts', 'build-native.js'));
  fs.cpSync(path.join(REPO_ROOT, 'native', 'src'), path.join(dir, 'native', 'src'), { recursive: true });
  fs.copyFileSync(path.join(REPO_ROOT, 'native', 'binding.gyp'), path.join(dir, 'native', 'binding.gyp'));
  // -O0 (the last -O wins) keeps the compile short; the link then fails on the library that does not exist
  const r = spawnSync(process.execPath, [path.join(dir, 'scripts', 'build-native.js')], {
    env: { ...process.env, SAELAB_BLAS_LIBS: '-lsaelab_no_such_blas', SAELAB_NATIVE_CFLAGS: '-O0' }, encoding: 'utf8',
  });
  assert.strictEqual(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.strictEqual(lines.length, 1, r.stdout);
  assert.match(lines[0], /^saelab: native backend not built: the library saelab_no_such_blas was not found at link time .*; saelab will use the wasm backend\.$/);
  const addon = path.join(dir, 'native', 'build', 'Release', 'saelab_native.node');
  assert.ok(!fs.existsSync(addon), 'no addon was produced');
  const script = `
    const { initBackend } = require(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'lib', 'backend', 'index.js'))});
    initBackend().then((info) => console.log(JSON.stringify({ kind: info.kind, skipped: info.skipped.native })));
  `;
  const run = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, SAELAB_NATIVE_ADDON: addon, SAELAB_BACKEND: '' }, encoding: 'utf8' });
  assert.strictEqual(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout.trim().split('\n').pop()!);
  assert.strictEqual(out.kind, 'wasm');
  assert.match(out.skipped, /saelab_native\.node is missing/);
});

test('without the addon, tryRegisterNative says why and initBackend falls back past native', () => {
  const script = `
    const { tryRegisterNative } = require(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'lib', 'backend', 'native.js'))});
    const { initBackend } = require(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'lib', 'backend', 'index.js'))});
    const r = tryRegisterNative();
    initBackend().then((info) => console.log(JSON.stringify({ r, kind: info.kind, skipped: info.skipped.native })));
  `;
  const missing = path.join(tmpDir('saelab-native-missing-'), 'saelab_native.node');
  const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, SAELAB_NATIVE_ADDON: missing, SAELAB_BACKEND: '' }, encoding: 'utf8' });
  assert.strictEqual(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.strictEqual(out.r.ok, false);
  assert.match(out.r.reason, /native addon .*saelab_native\.node is missing/);
  assert.match(out.r.reason, /build-native\.js/);
  assert.notStrictEqual(out.kind, 'native');
  assert.match(out.skipped, /is missing/);
});
