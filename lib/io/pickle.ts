/**
 * Python pickle (protocols 0-5) read as data only.
 *
 * The interpreter never calls anything: a GLOBAL / STACK_GLOBAL opcode is looked up in an explicit
 * allow-list of `PickleGlobal`s, each of which maps its REDUCE / NEWOBJ arguments to plain data in
 * TypeScript. Any other global stops loading with an error naming the file and `module.name`.
 *
 * Result mapping: dict / OrderedDict -> plain object when every key is a string, else a Map;
 * list and tuple -> array; set / frozenset -> Set; int -> number (bigint beyond 2^53); float -> number;
 * str -> string; bytes / bytearray -> Uint8Array; None -> null; numpy scalars -> number / boolean;
 * numpy and torch dtypes -> their names ('float64', 'float32'); torch.device -> 'cuda:0' / 'cpu'.
 */
import * as fs from 'fs';
import { SaelabError } from './errors';
import { f16ToF32 } from './dtypes';

export class PickleError extends SaelabError {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'PickleError';
  }
}

/** What the interpreter hands to an allowed global's handlers. */
export interface PickleContext {
  /** the file (or label) being read, for error messages */
  readonly file: string;
  /** throw a PickleError naming the file */
  fail(message: string): never;
  /** the items of a list or tuple argument (fails otherwise) */
  sequence(v: unknown, what: string): unknown[];
  /** an integer argument as a safe JS number (fails otherwise) */
  int(v: unknown, what: string): number;
}

/** One allowed global: what `module.name` means as data. Only the handlers given are allowed. */
export interface PickleGlobal {
  readonly module: string;
  readonly name: string;
  /** REDUCE: the global called with a tuple of arguments */
  call?(args: unknown[], ctx: PickleContext): unknown;
  /** NEWOBJ / NEWOBJ_EX: `cls.__new__(cls, *args)`; BUILD then applies the state */
  newobj?(args: unknown[], ctx: PickleContext): unknown;
  /** the value the bare global stands for in the result (torch.float32 -> 'float32') */
  value?: unknown;
}

/** An object built through NEWOBJ of an allowed class; BUILD merges its state (a dict) into `state`. */
export class PickleObject {
  constructor(readonly className: string, public state: Record<string, unknown> = {}) {}
}

export interface LoadPickleOptions {
  /** allowed globals (default: CONFIG_GLOBALS) */
  allow?: readonly PickleGlobal[];
  /** resolves PERSID / BINPERSID ids (torch storages); without it persistent ids are refused */
  persistentLoad?: (pid: unknown, ctx: PickleContext) => unknown;
  /** name used in errors when reading bytes (default: '<bytes>') */
  label?: string;
}

// ---------------------------------------------------------------------------------------------
// Internal values while unpickling (converted to plain JS at the end).

class PyList { constructor(readonly items: unknown[] = []) {} }
class PyTuple { constructor(readonly items: unknown[]) {} }
class PyDict {
  readonly entries = new Map<string, [unknown, unknown]>();
  /** instance attributes set by BUILD (an OrderedDict's `_metadata`); not part of the result */
  attrs: unknown = null;
}
class PySet { constructor(readonly entries = new Map<string, unknown>(), readonly frozen = false) {} }
class GlobalRef { constructor(readonly g: PickleGlobal) {} }

/** numpy dtype while unpickling: descr ('f8', 'i8', 'b1', ...) and byte order from BUILD. */
export class NumpyDtype {
  byteorder = '=';
  constructor(readonly descr: string) {}
  /** the dtype's name as numpy prints it ('float64', 'int64', 'bool') */
  get name(): string {
    const kind = this.descr[0];
    const size = Number(this.descr.slice(1));
    if (kind === 'b' && size === 1) return 'bool';
    const kinds: Record<string, string> = { f: 'float', i: 'int', u: 'uint', c: 'complex' };
    if (kinds[kind] && Number.isInteger(size) && size > 0) return `${kinds[kind]}${size * 8}`;
    return this.descr;
  }
}

const MARK = Symbol('mark');

// ---------------------------------------------------------------------------------------------
// Allowed globals.

function argsOf(ctx: PickleContext, g: string, args: unknown[], min: number, max = min): void {
  if (args.length < min || args.length > max) ctx.fail(`${g} expects ${min === max ? min : `${min}-${max}`} arguments, got ${args.length}`);
}

function asInt(ctx: PickleContext, v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return ctx.fail(`${what} must be an integer, got ${describe(v)}`);
}

/** torch dtype globals (`torch.float32` -> 'float32'). */
export const TORCH_DTYPE_GLOBALS: readonly PickleGlobal[] = ['float32', 'float16', 'bfloat16', 'float64', 'int64', 'int32', 'bool']
  .map((name) => ({ module: 'torch', name, value: name }));

/** torch.device('cuda', 0) -> 'cuda:0'. */
export const TORCH_DEVICE_GLOBAL: PickleGlobal = {
  module: 'torch', name: 'device',
  call(args, ctx) {
    argsOf(ctx, 'torch.device', args, 1, 2);
    if (typeof args[0] !== 'string') ctx.fail(`torch.device type must be a string, got ${describe(args[0])}`);
    return args.length === 2 && args[1] !== null ? `${args[0]}:${asInt(ctx, args[1], 'torch.device index')}` : args[0];
  },
};

/** collections.OrderedDict() -> a dict (its `_metadata` attribute ignored). */
export const ORDERED_DICT_GLOBAL: PickleGlobal = {
  module: 'collections', name: 'OrderedDict',
  call(args, ctx) {
    argsOf(ctx, 'collections.OrderedDict', args, 0, 1);
    const d = new PyDict();
    if (args.length === 1) {
      const pairs = args[0];
      if (!(pairs instanceof PyList || pairs instanceof PyTuple)) ctx.fail(`collections.OrderedDict argument must be a list of pairs, got ${describe(pairs)}`);
      for (const p of (pairs as PyList).items) {
        const kv = p instanceof PyList || p instanceof PyTuple ? p.items : null;
        if (!kv || kv.length !== 2) ctx.fail('collections.OrderedDict argument must hold (key, value) pairs');
        dictSet(ctx, d, kv![0], kv![1]);
      }
    }
    return d;
  },
  newobj(args, ctx) {
    argsOf(ctx, 'collections.OrderedDict', args, 0);
    return new PyDict();
  },
};

const NUMPY_DTYPE_RE = /^[|<>=]?([fiucb])(\d+)$/;

function numpyDtypeGlobal(module: string): PickleGlobal {
  return {
    module, name: 'dtype',
    call(args, ctx) {
      argsOf(ctx, 'numpy.dtype', args, 1, 3);
      const d = args[0];
      if (typeof d !== 'string') ctx.fail(`numpy.dtype descriptor must be a string, got ${describe(d)}`);
      const m = NUMPY_DTYPE_RE.exec(d as string);
      if (!m) ctx.fail(`numpy.dtype '${d}' is not a numeric or bool dtype (only f, i, u, c, b dtypes are read)`);
      return new NumpyDtype(`${m![1]}${m![2]}`);
    },
  };
}

function numpyScalarGlobal(module: string): PickleGlobal {
  return {
    module, name: 'scalar',
    call(args, ctx) {
      argsOf(ctx, `${module}.scalar`, args, 2);
      const [dt, raw] = args;
      if (!(dt instanceof NumpyDtype)) return ctx.fail(`numpy scalar needs a numpy dtype, got ${describe(dt)}`);
      if (!(raw instanceof Uint8Array)) return ctx.fail(`numpy scalar needs bytes, got ${describe(raw)}`);
      return decodeNumpyScalar(ctx, dt, raw);
    },
  };
}

function decodeNumpyScalar(ctx: PickleContext, dt: NumpyDtype, raw: Uint8Array): unknown {
  const kind = dt.descr[0];
  const size = Number(dt.descr.slice(1));
  if (raw.length !== size) ctx.fail(`numpy ${dt.name} scalar has ${raw.length} bytes, expected ${size}`);
  const le = dt.byteorder !== '>';
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const big = (x: bigint) => (x >= BigInt(Number.MIN_SAFE_INTEGER) && x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x);
  switch (`${kind}${size}`) {
    case 'f8': return v.getFloat64(0, le);
    case 'f4': return v.getFloat32(0, le);
    case 'f2': return f16ToF32(v.getUint16(0, le));
    case 'i8': return big(v.getBigInt64(0, le));
    case 'i4': return v.getInt32(0, le);
    case 'i2': return v.getInt16(0, le);
    case 'i1': return v.getInt8(0);
    case 'u8': return big(v.getBigUint64(0, le));
    case 'u4': return v.getUint32(0, le);
    case 'u2': return v.getUint16(0, le);
    case 'u1': return v.getUint8(0);
    case 'b1': return v.getUint8(0) !== 0;
    default: return ctx.fail(`numpy scalars of dtype ${dt.name} are not supported`);
  }
}

/** `_codecs.encode(str, 'latin1')`: how protocol 2 stores bytes objects (numpy scalars' payloads). */
export const CODECS_ENCODE_GLOBAL: PickleGlobal = {
  module: '_codecs', name: 'encode',
  call(args, ctx) {
    argsOf(ctx, '_codecs.encode', args, 2);
    const [s, enc] = args;
    if (typeof s !== 'string' || (enc !== 'latin1' && enc !== 'latin-1')) ctx.fail(`_codecs.encode is only read as (str, 'latin1'), got (${describe(s)}, ${describe(enc)})`);
    const out = new Uint8Array((s as string).length);
    for (let i = 0; i < out.length; i++) {
      const c = (s as string).charCodeAt(i);
      if (c > 255) ctx.fail(`_codecs.encode: character ${c} is not latin1`);
      out[i] = c;
    }
    return out;
  },
};

function setGlobal(module: string, name: 'set' | 'frozenset'): PickleGlobal {
  return {
    module, name,
    call(args, ctx) {
      argsOf(ctx, `${module}.${name}`, args, 0, 1);
      const s = new PySet(new Map(), name === 'frozenset');
      if (args.length) {
        const src = args[0];
        if (!(src instanceof PyList || src instanceof PyTuple)) ctx.fail(`${name}() argument must be a list, got ${describe(src)}`);
        for (const x of (src as PyList).items) s.entries.set(hashKey(ctx, x), x);
      }
      return s;
    },
  };
}

/** numpy scalars and dtypes under both the numpy 1.x and 2.x module names. */
export const NUMPY_GLOBALS: readonly PickleGlobal[] = [
  numpyScalarGlobal('numpy.core.multiarray'), numpyScalarGlobal('numpy._core.multiarray'),
  numpyDtypeGlobal('numpy'), numpyDtypeGlobal('numpy.core.multiarray'), numpyDtypeGlobal('numpy._core.multiarray'),
];

/** Python builtins that are pure data constructors (set, frozenset, bytes via _codecs.encode). */
export const BUILTIN_DATA_GLOBALS: readonly PickleGlobal[] = [
  setGlobal('builtins', 'set'), setGlobal('__builtin__', 'set'),
  setGlobal('builtins', 'frozenset'), setGlobal('__builtin__', 'frozenset'),
  CODECS_ENCODE_GLOBAL,
];

/** The default allow-list for config pickles: dtypes, devices, numpy scalars, OrderedDict, sets. */
export const CONFIG_GLOBALS: readonly PickleGlobal[] = [
  ...TORCH_DTYPE_GLOBALS, TORCH_DEVICE_GLOBAL, ORDERED_DICT_GLOBAL, ...NUMPY_GLOBALS, ...BUILTIN_DATA_GLOBALS,
];

/** An allowed class whose instances are read as data: NEWOBJ makes a PickleObject, BUILD fills its fields. */
export function dataClassGlobal(module: string, name: string): PickleGlobal {
  return {
    module, name,
    newobj(args, ctx) {
      if (args.length) ctx.fail(`${module}.${name} is only read from its pickled state, not constructor arguments`);
      return new PickleObject(`${module}.${name}`);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Helpers.

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v === MARK) return 'MARK';
  if (v instanceof PyList) return 'list';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PyDict) return 'dict';
  if (v instanceof PySet) return 'set';
  if (v instanceof GlobalRef) return `${v.g.module}.${v.g.name}`;
  if (v instanceof NumpyDtype) return `numpy dtype ${v.name}`;
  if (v instanceof PickleObject) return v.className;
  if (v instanceof Uint8Array) return `bytes[${v.length}]`;
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v && typeof v === 'object') return (v.constructor && v.constructor.name) || 'object';
  return typeof v;
}

const tupleKeys = new WeakMap<PyTuple, string>();
const MAX_KEY_CHARS = 1 << 20;

function hashKey(ctx: PickleContext, k: unknown): string {
  if (k === null) return 'N';
  if (typeof k === 'boolean') return `i:${k ? 1 : 0}`;
  if (typeof k === 'number') return Number.isInteger(k) ? `i:${k}` : `f:${k}`;
  if (typeof k === 'bigint') return `i:${k}`;
  if (typeof k === 'string') return `s:${k}`;
  if (k instanceof Uint8Array) return `b:${Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('hex')}`;
  if (k instanceof PyTuple) {
    // memoized per tuple, and capped: shared sub-tuples (DUP, memo) could otherwise double the key at each level
    const cached = tupleKeys.get(k);
    if (cached !== undefined) return cached;
    let key = 't:(';
    for (const x of k.items) {
      key += `${hashKey(ctx, x)},`;
      if (key.length > MAX_KEY_CHARS) ctx.fail(`a tuple used as a dict key or set item is too large (over ${MAX_KEY_CHARS} characters when hashed)`);
    }
    key += ')';
    tupleKeys.set(k, key);
    return key;
  }
  if (k instanceof GlobalRef) return `g:${k.g.module}.${k.g.name}`;
  return ctx.fail(`unhashable dict key or set item of type ${describe(k)}`);
}

function dictSet(ctx: PickleContext, d: PyDict, k: unknown, v: unknown): void {
  d.entries.set(hashKey(ctx, k), [k, v]);
}

/** Pickle opcodes by name (Python's pickletools names). */
export const PICKLE_OPCODES = {
  MARK: 0x28, EMPTY_TUPLE: 0x29, STOP: 0x2e, POP: 0x30, POP_MARK: 0x31, DUP: 0x32, BINBYTES: 0x42,
  SHORT_BINBYTES: 0x43, FLOAT: 0x46, BINFLOAT: 0x47, INT: 0x49, BININT: 0x4a, BININT1: 0x4b, LONG: 0x4c,
  BININT2: 0x4d, NONE: 0x4e, PERSID: 0x50, BINPERSID: 0x51, REDUCE: 0x52, STRING: 0x53, BINSTRING: 0x54,
  SHORT_BINSTRING: 0x55, UNICODE: 0x56, BINUNICODE: 0x58, EMPTY_LIST: 0x5d, APPEND: 0x61, BUILD: 0x62, GLOBAL: 0x63,
  DICT: 0x64, APPENDS: 0x65, GET: 0x67, BINGET: 0x68, INST: 0x69, LONG_BINGET: 0x6a, LIST: 0x6c, OBJ: 0x6f,
  PUT: 0x70, BINPUT: 0x71, LONG_BINPUT: 0x72, SETITEM: 0x73, TUPLE: 0x74, SETITEMS: 0x75, EMPTY_DICT: 0x7d,
  PROTO: 0x80, NEWOBJ: 0x81, EXT1: 0x82, EXT2: 0x83, EXT4: 0x84, TUPLE1: 0x85, TUPLE2: 0x86, TUPLE3: 0x87,
  NEWTRUE: 0x88, NEWFALSE: 0x89, LONG1: 0x8a, LONG4: 0x8b, SHORT_BINUNICODE: 0x8c, BINUNICODE8: 0x8d,
  BINBYTES8: 0x8e, EMPTY_SET: 0x8f, ADDITEMS: 0x90, FROZENSET: 0x91, NEWOBJ_EX: 0x92, STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94, FRAME: 0x95, BYTEARRAY8: 0x96, NEXT_BUFFER: 0x97, READONLY_BUFFER: 0x98,
} as const;
const OP = PICKLE_OPCODES;

const OPNAMES: Record<number, string> = Object.fromEntries(Object.entries(OP).map(([name, code]) => [code, name]));

/** Python ints longer than this many bytes are refused (no legitimate config needs them). */
const MAX_LONG_BYTES = 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Little-endian two's complement bytes -> number (or bigint beyond 2^53). */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let x = 0n;
  for (let i = b.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) x -= 1n << BigInt(8 * b.length);
  return x >= BigInt(Number.MIN_SAFE_INTEGER) && x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x;
}

function parseIntText(ctx: PickleContext, s: string): number | bigint | boolean {
  if (s === '01') return true;
  if (s === '00') return false;
  const t = s.endsWith('L') ? s.slice(0, -1) : s;
  if (!/^[+-]?\d+$/.test(t) || t.length > MAX_LONG_BYTES * 3) ctx.fail(`bad integer literal ${JSON.stringify(s.slice(0, 40))}`);
  const x = BigInt(t);
  return x >= BigInt(Number.MIN_SAFE_INTEGER) && x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x;
}

/** Decode Python's `repr` string literal as written by STRING (protocol 0). */
function parseReprString(ctx: PickleContext, s: string): string {
  if (s.length < 2 || (s[0] !== "'" && s[0] !== '"') || s[s.length - 1] !== s[0]) ctx.fail(`STRING argument is not a quoted string: ${JSON.stringify(s.slice(0, 40))}`);
  const body = s.slice(1, -1);
  return body.replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g, (_m, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8) & 0xff);
    const map: Record<string, string> = { n: '\n', r: '\r', t: '\t', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v' };
    return map[e] ?? `\\${e}`;
  });
}

/** Decode `raw-unicode-escape` (protocol 0 UNICODE): \uXXXX and \UXXXXXXXX escapes, other bytes latin1. */
function rawUnicodeEscape(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, a?: string, b?: string) => String.fromCodePoint(parseInt(a ?? b!, 16) & 0x10ffff));
}

// ---------------------------------------------------------------------------------------------
// The interpreter.

class Unpickler implements PickleContext {
  private pos = 0;
  private stack: unknown[] = [];
  private readonly metastack: unknown[][] = [];
  private readonly memo = new Map<number, unknown>();
  private readonly globals = new Map<string, PickleGlobal>();
  private op = 0;
  private opPos = 0;

  constructor(readonly file: string, private readonly buf: Uint8Array, private readonly opts: LoadPickleOptions) {
    for (const g of opts.allow ?? CONFIG_GLOBALS) this.globals.set(`${g.module}\n${g.name}`, g);
  }

  fail(message: string): never {
    throw new PickleError(this.file, message);
  }

  sequence(v: unknown, what: string): unknown[] {
    if (v instanceof PyList || v instanceof PyTuple) return v.items;
    return this.fail(`${what} must be a tuple or list, got ${describe(v)}`);
  }

  int(v: unknown, what: string): number {
    return asInt(this, v, what);
  }

  private err(message: string): never {
    const name = OPNAMES[this.op] ?? `0x${this.op.toString(16)}`;
    throw new PickleError(this.file, `pickle opcode ${name} at byte ${this.opPos}: ${message}`);
  }

  private need(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0 || this.pos + n > this.buf.length) {
      this.err(`needs ${n} bytes but only ${this.buf.length - this.pos} remain (truncated or corrupt pickle)`);
    }
  }

  private bytes(n: number): Uint8Array {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  private u8(): number { this.need(1); return this.buf[this.pos++]; }
  private u16(): number { const b = this.bytes(2); return b[0] | (b[1] << 8); }
  private u32(): number { const b = this.bytes(4); return (b[0] | (b[1] << 8) | (b[2] << 16)) + b[3] * 0x1000000; }
  private i32(): number { const b = this.bytes(4); return b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24); }
  private u64(): number {
    const lo = this.u32();
    const hi = this.u32();
    if (hi >= 0x200000) this.err('8-byte length is too large');
    return hi * 0x100000000 + lo;
  }

  /** A newline-terminated text argument (protocol 0 opcodes). */
  private line(): string {
    let end = this.pos;
    while (end < this.buf.length && this.buf[end] !== 0x0a) end++;
    if (end >= this.buf.length) this.err('text argument has no terminating newline (truncated pickle)');
    let s = '';
    for (let i = this.pos; i < end; i++) s += String.fromCharCode(this.buf[i]);
    this.pos = end + 1;
    return s;
  }

  private utf8(n: number): string {
    const b = this.bytes(n);
    try {
      return utf8.decode(b);
    } catch {
      return this.err('string is not valid UTF-8');
    }
  }

  private push(v: unknown): void { this.stack.push(v); }

  private pop(): unknown {
    if (this.stack.length === 0) this.err('stack underflow (corrupt pickle)');
    const v = this.stack.pop();
    if (v === MARK) this.err('unexpected MARK on the stack');
    return v;
  }

  private top(): unknown {
    if (this.stack.length === 0) this.err('stack underflow (corrupt pickle)');
    return this.stack[this.stack.length - 1];
  }

  private popMark(): unknown[] {
    const items = this.stack;
    const prev = this.metastack.pop();
    if (!prev) this.err('no MARK to pop to (corrupt pickle)');
    this.stack = prev!;
    return items;
  }

  private global(module: string, name: string): GlobalRef {
    const g = this.globals.get(`${module}\n${name}`);
    if (!g) {
      this.fail(`pickle refers to the global ${module}.${name}, which is not on the allow-list of data globals; ` +
        'refusing to load it (nothing was executed). A data-only file never needs it: the file may be malicious, or its format needs an allow-list entry.');
    }
    return new GlobalRef(g!);
  }

  private memoGet(i: number): unknown {
    if (!this.memo.has(i)) this.err(`memo key ${i} was never stored (corrupt pickle)`);
    return this.memo.get(i);
  }

  private memoPut(i: number): void {
    if (this.memo.size > this.buf.length) this.err('memo grew beyond the pickle size');
    this.memo.set(i, this.top());
  }

  private callGlobal(callable: unknown, args: unknown, how: 'call' | 'newobj'): unknown {
    if (!(callable instanceof GlobalRef)) return this.err(`cannot call ${describe(callable)}: only allowed globals are callable`);
    if (!(args instanceof PyTuple)) return this.err(`arguments must be a tuple, got ${describe(args)}`);
    const fn = callable.g[how];
    if (!fn) return this.err(`${callable.g.module}.${callable.g.name} is allowed only as a value, not ${how === 'call' ? 'called' : 'instantiated'}`);
    return fn.call(callable.g, args.items, this);
  }

  private build(obj: unknown, state: unknown): void {
    if (obj instanceof PyDict) { obj.attrs = state; return; }
    if (obj instanceof NumpyDtype) {
      // numpy dtype state: (version, byteorder, subdescr, names, fields, elsize, alignment, flags)
      const items = state instanceof PyTuple ? state.items : null;
      if (!items || items.length < 2 || typeof items[1] !== 'string') this.err('numpy dtype state must be a tuple (version, byteorder, ...)');
      obj.byteorder = items![1] as string;
      return;
    }
    if (obj instanceof PickleObject) {
      let dictState = state;
      // (state, slotstate) form
      if (state instanceof PyTuple && state.items.length === 2) dictState = state.items[0] ?? state.items[1];
      if (!(dictState instanceof PyDict)) this.err(`state of ${obj.className} must be a dict, got ${describe(state)}`);
      for (const [k, v] of (dictState as PyDict).entries.values()) {
        if (typeof k !== 'string') this.err(`attribute names of ${obj.className} must be strings`);
        Object.defineProperty(obj.state, k as string, { value: v, enumerable: true, writable: true, configurable: true });
      }
      return;
    }
    if (obj !== null && typeof obj === 'object' && state === null) return;
    this.err(`cannot apply BUILD state to ${describe(obj)}`);
  }

  run(): unknown {
    const buf = this.buf;
    while (true) {
      if (this.pos >= buf.length) this.fail(`pickle ends at byte ${buf.length} without a STOP opcode (truncated?)`);
      this.opPos = this.pos;
      const op = (this.op = buf[this.pos++]);
      switch (op) {
        case OP.PROTO: {
          const p = this.u8();
          if (p > 5) this.err(`unsupported pickle protocol ${p} (0-5 are read)`);
          break;
        }
        case OP.FRAME: this.u64(); break; // FRAME: framing is only a hint for buffered reading
        case OP.STOP: {
          const v = this.pop();
          return v;
        }
        case OP.MARK: this.metastack.push(this.stack); this.stack = []; break;
        case OP.POP: if (this.stack.length) this.stack.pop(); else this.popMark(); break;
        case OP.POP_MARK: this.popMark(); break;
        case OP.DUP: this.push(this.top()); break;
        // --- constants and numbers
        case OP.NONE: this.push(null); break;
        case OP.NEWTRUE: this.push(true); break;
        case OP.NEWFALSE: this.push(false); break;
        case OP.INT: this.push(parseIntText(this, this.line())); break;
        case OP.BININT: this.push(this.i32()); break;
        case OP.BININT1: this.push(this.u8()); break;
        case OP.BININT2: this.push(this.u16()); break;
        case OP.LONG: { const v = parseIntText(this, this.line()); this.push(typeof v === 'boolean' ? Number(v) : v); break; }
        case OP.LONG1: this.push(decodeLong(this.bytes(this.u8()))); break;
        case OP.LONG4: {
          const n = this.i32();
          if (n < 0 || n > MAX_LONG_BYTES) this.err(`integer of ${n} bytes refused (limit ${MAX_LONG_BYTES})`);
          this.push(decodeLong(this.bytes(n)));
          break;
        }
        case OP.FLOAT: {
          const s = this.line().trim();
          let v: number;
          if (/^[+-]?inf(inity)?$/i.test(s)) v = s.startsWith('-') ? -Infinity : Infinity;
          else if (/^[+-]?nan$/i.test(s)) v = NaN;
          else if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) v = Number(s);
          else this.err(`bad float literal ${JSON.stringify(s.slice(0, 40))}`);
          this.push(v!);
          break;
        }
        case OP.BINFLOAT: { const b = this.bytes(8); this.push(new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, false)); break; }
        // --- strings and bytes
        case OP.STRING: this.push(parseReprString(this, this.line())); break; // STRING (py2 str -> text)
        case OP.BINSTRING: { const n = this.i32(); if (n < 0) this.err('negative length'); this.push(latin1(this.bytes(n))); break; }
        case OP.SHORT_BINSTRING: this.push(latin1(this.bytes(this.u8()))); break;
        case OP.UNICODE: { // UNICODE (raw-unicode-escape, newline terminated)
          const start = this.pos;
          this.line();
          this.push(rawUnicodeEscape(buf.subarray(start, this.pos - 1)));
          break;
        }
        case OP.BINUNICODE: this.push(this.utf8(this.u32())); break;
        case OP.SHORT_BINUNICODE: this.push(this.utf8(this.u8())); break;
        case OP.BINUNICODE8: this.push(this.utf8(this.u64())); break;
        case OP.BINBYTES: this.push(copyBytes(this.bytes(this.u32()))); break;
        case OP.SHORT_BINBYTES: this.push(copyBytes(this.bytes(this.u8()))); break;
        case OP.BINBYTES8: this.push(copyBytes(this.bytes(this.u64()))); break;
        case OP.BYTEARRAY8: this.push(copyBytes(this.bytes(this.u64()))); break;
        // --- containers
        case OP.EMPTY_TUPLE: this.push(new PyTuple([])); break;
        case OP.TUPLE: this.push(new PyTuple(this.popMark())); break;
        case OP.TUPLE1: { const a = this.pop(); this.push(new PyTuple([a])); break; }
        case OP.TUPLE2: { const b = this.pop(); const a = this.pop(); this.push(new PyTuple([a, b])); break; }
        case OP.TUPLE3: { const c = this.pop(); const b = this.pop(); const a = this.pop(); this.push(new PyTuple([a, b, c])); break; }
        case OP.EMPTY_LIST: this.push(new PyList()); break;
        case OP.LIST: this.push(new PyList(this.popMark())); break;
        case OP.APPEND: {
          const v = this.pop();
          const l = this.top();
          if (!(l instanceof PyList)) this.err(`APPEND to ${describe(l)}, expected a list`);
          (l as PyList).items.push(v);
          break;
        }
        case OP.APPENDS: {
          const items = this.popMark();
          const l = this.top();
          if (!(l instanceof PyList)) this.err(`APPENDS to ${describe(l)}, expected a list`);
          for (const v of items) (l as PyList).items.push(v);
          break;
        }
        case OP.EMPTY_DICT: this.push(new PyDict()); break;
        case OP.DICT: {
          const items = this.popMark();
          if (items.length % 2) this.err('odd number of items for a dict');
          const d = new PyDict();
          for (let i = 0; i < items.length; i += 2) dictSet(this, d, items[i], items[i + 1]);
          this.push(d);
          break;
        }
        case OP.SETITEM: {
          const v = this.pop();
          const k = this.pop();
          const d = this.top();
          if (!(d instanceof PyDict)) this.err(`SETITEM on ${describe(d)}, expected a dict`);
          dictSet(this, d as PyDict, k, v);
          break;
        }
        case OP.SETITEMS: {
          const items = this.popMark();
          const d = this.top();
          if (!(d instanceof PyDict)) this.err(`SETITEMS on ${describe(d)}, expected a dict`);
          if (items.length % 2) this.err('odd number of items for SETITEMS');
          for (let i = 0; i < items.length; i += 2) dictSet(this, d as PyDict, items[i], items[i + 1]);
          break;
        }
        case OP.EMPTY_SET: this.push(new PySet()); break;
        case OP.ADDITEMS: {
          const items = this.popMark();
          const s = this.top();
          if (!(s instanceof PySet) || s.frozen) this.err(`ADDITEMS on ${describe(s)}, expected a set`);
          for (const x of items) (s as PySet).entries.set(hashKey(this, x), x);
          break;
        }
        case OP.FROZENSET: {
          const items = this.popMark();
          const s = new PySet(new Map(), true);
          for (const x of items) s.entries.set(hashKey(this, x), x);
          this.push(s);
          break;
        }
        // --- memo
        case OP.PUT: { const s = this.line(); if (!/^\d+$/.test(s)) this.err('bad PUT index'); this.memoPut(Number(s)); break; }
        case OP.BINPUT: this.memoPut(this.u8()); break;
        case OP.LONG_BINPUT: this.memoPut(this.u32()); break;
        case OP.MEMOIZE: this.memoPut(this.memo.size); break;
        case OP.GET: { const s = this.line(); if (!/^\d+$/.test(s)) this.err('bad GET index'); this.push(this.memoGet(Number(s))); break; }
        case OP.BINGET: this.push(this.memoGet(this.u8())); break;
        case OP.LONG_BINGET: this.push(this.memoGet(this.u32())); break;
        // --- globals and objects
        case OP.GLOBAL: { const module = this.line(); const name = this.line(); this.push(this.global(module, name)); break; }
        case OP.STACK_GLOBAL: {
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') this.err('STACK_GLOBAL needs two strings');
          this.push(this.global(module as string, name as string));
          break;
        }
        case OP.REDUCE: { const args = this.pop(); const fn = this.pop(); this.push(this.callGlobal(fn, args, 'call')); break; }
        case OP.NEWOBJ: { const args = this.pop(); const cls = this.pop(); this.push(this.callGlobal(cls, args, 'newobj')); break; }
        case OP.NEWOBJ_EX: {
          const kwargs = this.pop();
          const args = this.pop();
          const cls = this.pop();
          if (!(kwargs instanceof PyDict) || kwargs.entries.size) this.err('NEWOBJ_EX with keyword arguments is not supported');
          this.push(this.callGlobal(cls, args, 'newobj'));
          break;
        }
        case OP.INST: {
          const module = this.line();
          const name = this.line();
          const g = this.global(module, name);
          this.push(this.callGlobal(g, new PyTuple(this.popMark()), 'call'));
          break;
        }
        case OP.OBJ: {
          const items = this.popMark();
          if (!items.length) this.err('OBJ without a class');
          this.push(this.callGlobal(items[0], new PyTuple(items.slice(1)), 'call'));
          break;
        }
        case OP.BUILD: { const state = this.pop(); this.build(this.top(), state); break; }
        case OP.PERSID: this.push(this.persistent(this.line())); break;
        case OP.BINPERSID: this.push(this.persistent(this.pop())); break;
        case OP.EXT1: case OP.EXT2: case OP.EXT4:
          this.err('extension-registry globals (EXT1/EXT2/EXT4) are refused: they name code by number');
          break;
        case OP.NEXT_BUFFER: case OP.READONLY_BUFFER:
          this.err('out-of-band buffers (protocol 5 NEXT_BUFFER / READONLY_BUFFER) are not supported');
          break;
        default:
          this.err(`unknown opcode (not a pickle, or a corrupt one)`);
      }
    }
  }

  private persistent(pid: unknown): unknown {
    if (!this.opts.persistentLoad) this.err('persistent ids are only read inside a torch checkpoint');
    return this.opts.persistentLoad!(toPlain(this, pid, new Map()), this);
  }
}

function copyBytes(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length);
  out.set(b);
  return out;
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

/** Internal values -> plain JS (shared and cyclic references preserved). */
function toPlain(ctx: PickleContext, v: unknown, seen: Map<unknown, unknown>): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (seen.has(v)) return seen.get(v);
  if (v instanceof PyList || v instanceof PyTuple) {
    const out: unknown[] = [];
    seen.set(v, out);
    for (const x of v.items) out.push(toPlain(ctx, x, seen));
    return out;
  }
  if (v instanceof PyDict) {
    const allStrings = [...v.entries.values()].every(([k]) => typeof k === 'string');
    if (allStrings) {
      const out: Record<string, unknown> = {};
      seen.set(v, out);
      for (const [k, x] of v.entries.values()) {
        Object.defineProperty(out, k as string, { value: toPlain(ctx, x, seen), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    const out = new Map<unknown, unknown>();
    seen.set(v, out);
    for (const [k, x] of v.entries.values()) out.set(toPlain(ctx, k, seen), toPlain(ctx, x, seen));
    return out;
  }
  if (v instanceof PySet) {
    const out = new Set<unknown>();
    seen.set(v, out);
    for (const x of v.entries.values()) out.add(toPlain(ctx, x, seen));
    return out;
  }
  if (v instanceof GlobalRef) {
    const out = v.g.value !== undefined ? v.g.value : `${v.g.module}.${v.g.name}`;
    seen.set(v, out);
    return out;
  }
  if (v instanceof NumpyDtype) { seen.set(v, v.name); return v.name; }
  if (v instanceof PickleObject) {
    const out = new PickleObject(v.className);
    seen.set(v, out);
    for (const [k, x] of Object.entries(v.state)) {
      Object.defineProperty(out.state, k, { value: toPlain(ctx, x, seen), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return v; // Uint8Array, tensors and other values made by allowed globals
}

/** Unpickle bytes as data. `label` names the source in errors. */
export function parsePickle(bytes: Uint8Array, opts: LoadPickleOptions = {}): unknown {
  const label = opts.label ?? '<bytes>';
  const u = new Unpickler(label, bytes, opts);
  try {
    return toPlain(u, u.run(), new Map());
  } catch (e) {
    if (e instanceof RangeError) throw new PickleError(label, `pickle nests too deeply to read (${e.message})`);
    throw e;
  }
}

/**
 * Load a pickle file (or bytes) as plain data; globals outside `opts.allow` (default CONFIG_GLOBALS)
 * are refused with an error naming the file and `module.name`. Nothing in the pickle is executed.
 */
export function loadPickle(fileOrBytes: string | Uint8Array, opts: LoadPickleOptions = {}): unknown {
  if (typeof fileOrBytes === 'string') {
    return parsePickle(fs.readFileSync(fileOrBytes), { ...opts, label: opts.label ?? fileOrBytes });
  }
  return parsePickle(fileOrBytes, opts);
}

// ---------------------------------------------------------------------------------------------
// Writing.

/** A value that stays a Python float when written, even if integral (1.0). */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** A Python global written by name (GLOBAL module name), e.g. `new PyGlobal('torch', 'float32')`. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
}

/** A Python tuple when written (plain arrays are written as lists). */
export class PyTupleValue {
  constructor(readonly items: unknown[]) {}
}

/** Emits pickle opcodes into a growing buffer (no memo: values are written as trees). */
export class PickleWriter {
  private buf = Buffer.alloc(256);
  private len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const nb = Buffer.alloc(size);
    this.buf.copy(nb, 0, 0, this.len);
    this.buf = nb;
  }

  op(...bytes: number[]): this {
    this.ensure(bytes.length);
    for (const b of bytes) this.buf[this.len++] = b;
    return this;
  }

  raw(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  proto(p: number): this { return this.op(OP.PROTO, p); }
  mark(): this { return this.op(OP.MARK); }
  stop(): this { return this.op(OP.STOP); }
  none(): this { return this.op(OP.NONE); }
  bool(b: boolean): this { return this.op(b ? OP.NEWTRUE : OP.NEWFALSE); }
  emptyTuple(): this { return this.op(OP.EMPTY_TUPLE); }
  tupleFromMark(): this { return this.op(OP.TUPLE); }
  emptyDict(): this { return this.op(OP.EMPTY_DICT); }
  setitems(): this { return this.op(OP.SETITEMS); }
  emptyList(): this { return this.op(OP.EMPTY_LIST); }
  appends(): this { return this.op(OP.APPENDS); }
  reduce(): this { return this.op(OP.REDUCE); }
  binpersid(): this { return this.op(OP.BINPERSID); }

  global(module: string, name: string): this {
    if (/\n/.test(module + name)) throw new Error(`global name ${module}.${name} contains a newline`);
    return this.op(OP.GLOBAL).raw(Buffer.from(`${module}\n${name}\n`, 'utf8'));
  }

  int(x: number | bigint): this {
    if (typeof x === 'number' && !Number.isSafeInteger(x)) throw new Error(`cannot pickle ${x} as an int`);
    const v = BigInt(x);
    if (v >= 0n && v < 256n) return this.op(OP.BININT1, Number(v));
    if (v >= 0n && v < 65536n) return this.op(OP.BININT2, Number(v) & 0xff, Number(v) >> 8);
    if (v >= -(2n ** 31n) && v < 2n ** 31n) {
      const b = Buffer.alloc(4);
      b.writeInt32LE(Number(v));
      return this.op(OP.BININT).raw(b);
    }
    // LONG1: little-endian two's complement, minimal length
    const bytes: number[] = [];
    let t = v;
    while (true) {
      const byte = Number(t & 0xffn);
      bytes.push(byte);
      t >>= 8n;
      if ((t === 0n && !(byte & 0x80)) || (t === -1n && byte & 0x80)) break;
    }
    return this.op(OP.LONG1, bytes.length, ...bytes);
  }

  float(x: number): this {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(x);
    return this.op(OP.BINFLOAT).raw(b);
  }

  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    const n = Buffer.alloc(4);
    n.writeUInt32LE(b.length);
    return this.op(OP.BINUNICODE).raw(n).raw(b);
  }

  bytes(b: Uint8Array): this {
    const n = Buffer.alloc(4);
    n.writeUInt32LE(b.length);
    return this.op(OP.BINBYTES).raw(n).raw(b);
  }

  /** Write a plain JS value (see dumpPickle for the mapping). */
  value(v: unknown, path = '$', open = new Set<unknown>()): this {
    if (v === null || v === undefined) return this.none();
    if (typeof v === 'boolean') return this.bool(v);
    if (typeof v === 'bigint') return this.int(v);
    if (typeof v === 'number') return Number.isSafeInteger(v) ? this.int(v) : this.float(v);
    if (typeof v === 'string') return this.str(v);
    if (v instanceof PyFloat) return this.float(v.value);
    if (v instanceof PyGlobal) return this.global(v.module, v.name);
    if (v instanceof Uint8Array) return this.bytes(v);
    if (typeof v !== 'object') throw new Error(`cannot pickle ${path}: unsupported type ${typeof v}`);
    if (open.has(v)) throw new Error(`cannot pickle ${path}: the value contains a cycle`);
    open.add(v);
    if (v instanceof PyTupleValue) {
      this.mark();
      v.items.forEach((x, i) => this.value(x, `${path}[${i}]`, open));
      this.tupleFromMark();
    } else if (Array.isArray(v)) {
      this.emptyList();
      if (v.length) {
        this.mark();
        v.forEach((x, i) => this.value(x, `${path}[${i}]`, open));
        this.appends();
      }
    } else {
      const entries: Array<[unknown, unknown]> = v instanceof Map ? [...v.entries()] : Object.entries(v as object);
      this.emptyDict();
      if (entries.length) {
        this.mark();
        for (const [k, x] of entries) {
          this.value(k, `${path} key`, open);
          this.value(x, `${path}.${String(k)}`, open);
        }
        this.setitems();
      }
    }
    open.delete(v);
    return this;
  }

  toBytes(): Uint8Array {
    return new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.len).slice();
  }
}

/**
 * Pickle plain data (protocol 4, no framing): null -> None, booleans, integral numbers -> int
 * (PyFloat forces float), other numbers -> float, bigint -> int, strings, Uint8Array -> bytes,
 * arrays -> list, PyTupleValue -> tuple, objects and Maps -> dict, PyGlobal -> a global by name.
 */
export function dumpPickle(value: unknown): Uint8Array {
  return new PickleWriter().proto(4).value(value).stop().toBytes();
}
