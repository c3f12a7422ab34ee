// Cross-layer pair accumulators (lib/analysis/crosslayer/pairTable.ts) natively: the same open-addressing tables
// (24-byte slots: i + 1, j, count, countRel as int32, sumXY as float64; the same hash and linear probing) filled
// block by block, the row blocks spread over the threads (each block's table is touched by one thread only), and
// each block's entries sorted row-major. Same slots, same sums in the same order: the JavaScript tables' bits.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>
#include "kernels.h"
#include "napi_util.h"
#include "parallel.h"

namespace saelab {

namespace {

inline uint32_t slotHash(int32_t i, int32_t j) {
  uint32_t h = static_cast<uint32_t>(i) * 0x9e3779b1u ^ (static_cast<uint32_t>(j) + 0x7f4a7c15u) * 0x85ebca77u;
  h ^= h >> 15;
  h *= 0x2c1b3c6du;
  h ^= h >> 13;
  return h;
}

struct Table {
  int32_t* i32;
  double* f64;
  int64_t cap;
  int64_t size;
};

// Add (xy, c, cr) to pair (i, j); returns 1 when a new slot was taken. aliveOut/cross: dead-pair threshold tracking.
inline int add(Table& t, int32_t i, int32_t j, double xy, int32_t c, int32_t cr, const int8_t* cross, int64_t nCross, double* alive) {
  const uint32_t mask = static_cast<uint32_t>(t.cap - 1);
  const int32_t key = i + 1;
  uint32_t s = slotHash(i, j) & mask;
  for (;;) {
    int32_t* b = t.i32 + static_cast<int64_t>(s) * 6;
    if (b[0] == key && b[1] == j) {
      const int32_t nc = static_cast<int32_t>(static_cast<uint32_t>(b[2]) + static_cast<uint32_t>(c));
      b[2] = nc;
      b[3] = static_cast<int32_t>(static_cast<uint32_t>(b[3]) + static_cast<uint32_t>(cr));
      t.f64[static_cast<int64_t>(s) * 3 + 2] += xy;
      if (c == 1 && cross && nc >= 0 && nc < nCross && cross[nc] >= 0) alive[cross[nc]]++;
      return 0;
    }
    if (b[0] == 0) {
      b[0] = key;
      b[1] = j;
      b[2] = c;
      b[3] = cr;
      t.f64[static_cast<int64_t>(s) * 3 + 2] = xy;
      if (c == 1 && cross && nCross > 1 && cross[1] >= 0) alive[cross[1]]++;
      t.size++;
      return 1;
    }
    s = (s + 1) & mask;
  }
}

// Block b's slot table from arguments 0 (Int32Array[]) and 1 (Float64Array[]): 6 int32 / 3 float64 words per slot,
// a power-of-two capacity cap (cap < 0: the capacity the arrays hold); `error` is thrown when the arrays do not fit that.
Table tableArg(napi_env env, Args& args, uint32_t b, int32_t cap, int32_t size, const char* error) {
  napi_value vi, vf;
  napi_get_element(env, args.at(0), b, &vi);
  napi_get_element(env, args.at(1), b, &vf);
  napi_typedarray_type ti, tf;
  size_t li, lf, oi, of;
  void *di, *df;
  napi_value bi, bf;
  if (napi_get_typedarray_info(env, vi, &ti, &li, &di, &bi, &oi) != napi_ok || napi_get_typedarray_info(env, vf, &tf, &lf, &df, &bf, &of) != napi_ok ||
      ti != napi_int32_array || tf != napi_float64_array)
    throw ArgError{error};
  const int64_t c = cap < 0 ? static_cast<int64_t>(lf / 3) : cap;
  if (static_cast<int64_t>(li) != 6 * c || static_cast<int64_t>(lf) != 3 * c || (c & (c - 1)) != 0) throw ArgError{error};
  return Table{static_cast<int32_t*>(di), static_cast<double*>(df), c, size};
}

}  // namespace

// pairInsert(tablesI32[], tablesF64[], caps, sizes, pos, ends, recI, recJ, recXY, recFlags, cross|null, alive|null)
//   -> number of blocks that stopped early. Block b's records are [pos[b], ends[b]); a block stops right after an
// insert leaves size * 2 > capacity (pos[b] then says where to resume once the caller has grown its table).
// sizes and pos are updated; alive gets the threshold crossings (flags: bit 0 = c, the rest = cr).
napi_value PairInsert(napi_env env, napi_callback_info info) {
  int64_t stopped = 0;
  napi_value done = guard(env, [&] {
    Args args(env, info);
    uint32_t nb;
    napi_get_array_length(env, args.at(0), &nb);
    size_t ncaps, nsizes, npos, nends, nri, nrj, nrx, nrf, ncross = 0, nalive = 0;
    const int32_t* caps = args.typed<int32_t>(2, &ncaps);
    int32_t* sizes = args.typed<int32_t>(3, &nsizes);
    int32_t* pos = args.typed<int32_t>(4, &npos);
    const int32_t* ends = args.typed<int32_t>(5, &nends);
    const int32_t* ri = args.typed<int32_t>(6, &nri);
    const int32_t* rj = args.typed<int32_t>(7, &nrj);
    const double* rx = args.typed<double>(8, &nrx);
    const uint8_t* rf = args.typed<uint8_t>(9, &nrf);
    const int8_t* cross = args.isNull(10) ? nullptr : args.typed<int8_t>(10, &ncross);
    double* alive = args.isNull(11) ? nullptr : args.typed<double>(11, &nalive);
    if (ncaps != nb || nsizes != nb || npos != nb || nends != nb || nrj != nri || nrx != nri || nrf != nri || (cross && !alive))
      throw ArgError{"pairInsert: sizes differ"};
    std::vector<Table> tables(nb);
    for (uint32_t b = 0; b < nb; b++) {
      tables[b] = tableArg(env, args, b, caps[b], sizes[b], "pairInsert: a table is not an Int32Array / Float64Array pair of 6 / 3 words per slot");
      if (pos[b] < 0 || ends[b] < pos[b] || static_cast<size_t>(ends[b]) > nri) throw ArgError{"pairInsert: record range out of bounds"};
    }
    const int64_t nAlive = static_cast<int64_t>(nalive);
    int64_t work = 0;
    for (uint32_t b = 0; b < nb; b++) work += ends[b] - pos[b];
    const int threads = threadsFor(work * 8);
    std::vector<double> aliveParts(static_cast<size_t>(threads) * (nAlive > 0 ? nAlive : 1), 0.0);
    int64_t stop = 0;
#pragma omp parallel num_threads(threads) reduction(+ : stop)
    {
      double* myAlive = aliveParts.data() + static_cast<int64_t>(omp_get_thread_num()) * (nAlive > 0 ? nAlive : 1);
#pragma omp for schedule(dynamic, 4)
      for (int64_t b = 0; b < static_cast<int64_t>(nb); b++) {
        Table& t = tables[b];
        int64_t q = pos[b];
        const int64_t e = ends[b];
        for (; q < e; q++) {
          const uint8_t f = rf[q];
          if (add(t, ri[q], rj[q], rx[q], f & 1, f >> 1, cross, static_cast<int64_t>(ncross), myAlive) && t.size * 2 > t.cap) { q++; stop++; break; }
        }
        pos[b] = static_cast<int32_t>(q);
        sizes[b] = static_cast<int32_t>(t.size);
      }
    }
    for (int t = 0; t < threads; t++)
      for (int64_t k = 0; k < nAlive; k++) alive[k] += aliveParts[static_cast<int64_t>(t) * nAlive + k];
    stopped = stop;
  });
  if (done != nullptr) return done;
  napi_value r;
  napi_create_int64(env, stopped, &r);
  return r;
}

// The in-thread growth of pairAccumulate: the table's slots re-added, in slot order, to a zeroed table of twice the
// capacity (as PairTable.grow does; no threshold crossings). The new slots live in malloc'd memory that the table
// owns (`owned`) until pairAccumulate copies them into an ArrayBuffer for JavaScript.
namespace {

struct GrowingTable {
  Table t;
  void* owned = nullptr;
};

bool growTable(GrowingTable& g) {
  const int64_t newCap = g.t.cap * 2;
  void* mem = std::calloc(static_cast<size_t>(newCap), 24);
  if (!mem) return false;
  Table nt{static_cast<int32_t*>(mem), static_cast<double*>(mem), newCap, 0};
  const uint32_t newMask = static_cast<uint32_t>(newCap - 1);
  constexpr int64_t kAhead = 16;
  for (int64_t s = 0; s < g.t.cap; s++) {
    if (s + kAhead < g.t.cap) {
      const int32_t* a = g.t.i32 + (s + kAhead) * 6;
      if (a[0] != 0) {
        const int64_t ns = slotHash(a[0] - 1, a[1]) & newMask;
        __builtin_prefetch(nt.i32 + ns * 6, 1);
        __builtin_prefetch(nt.f64 + ns * 3 + 2, 1);
      }
    }
    const int32_t* b = g.t.i32 + s * 6;
    if (b[0] == 0) continue;
    add(nt, b[0] - 1, b[1], g.t.f64[s * 3 + 2], b[2], b[3], nullptr, 0, nullptr);
  }
  std::free(g.owned);
  g.owned = mem;
  g.t = nt;
  return true;
}

}  // namespace

// pairAccumulate(tablesI32[], tablesF64[], caps, sizes, aIndptr, aIndices, aValues, bIndptr, bIndices, bValues,
//                lbA|null, lbB|null, cross|null, alive|null, params: Float64Array, grown: Array)
// The co-occurrence records of one layer pair (CrossLayerCollector.accumulatePair) generated and added in one call:
// params = [t0, t1, r0, r1, rowsPerBlock, recordCapacity, budget]. Tokens [t0, t1) are cut into the same chunks as
// the JavaScript loop (records of whole tokens up to recordCapacity, which grows to one token's need as there);
// each chunk's records (i in [r0, r1) of A's token, every j of B's, x * y, flags bit 0 = both > 0, bit 1 = both >
// their bounds) are grouped by row block, in token order, and added block by block, the blocks spread over the
// threads, a table growing (in its thread) right after the insert that leaves size * 2 > capacity, as in
// JavaScript. After a chunk that leaves more than `budget` entries in all blocks the call returns (the caller
// spills). On return params[0] = the token reached, params[5] = the record capacity; caps/sizes are updated, and
// grown[b] = the new slot buffer (ArrayBuffer of 24 bytes a slot) of each block that grew, undefined for the others.
napi_value PairAccumulate(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args args(env, info);
    uint32_t nb;
    napi_get_array_length(env, args.at(0), &nb);
    size_t ncaps, nsizes, naip, nai, nav, nbip, nbi, nbv, nlbA = 0, nlbB = 0, ncross = 0, nalive = 0, nparams;
    int32_t* caps = args.typed<int32_t>(2, &ncaps);
    int32_t* sizes = args.typed<int32_t>(3, &nsizes);
    const int32_t* aIndptr = args.typed<int32_t>(4, &naip);
    const int32_t* aIdx = args.typed<int32_t>(5, &nai);
    const float* aVal = args.typed<float>(6, &nav);
    const int32_t* bIndptr = args.typed<int32_t>(7, &nbip);
    const int32_t* bIdx = args.typed<int32_t>(8, &nbi);
    const float* bVal = args.typed<float>(9, &nbv);
    const float* lbA = args.isNull(10) ? nullptr : args.typed<float>(10, &nlbA);
    const float* lbB = args.isNull(11) ? nullptr : args.typed<float>(11, &nlbB);
    const int8_t* cross = args.isNull(12) ? nullptr : args.typed<int8_t>(12, &ncross);
    double* alive = args.isNull(13) ? nullptr : args.typed<double>(13, &nalive);
    double* params = args.typed<double>(14, &nparams);
    napi_value grownOut = args.at(15);
    if (ncaps != nb || nsizes != nb || nparams < 7 || nav < nai || nbv < nbi || (cross && !alive) || (!lbA) != (!lbB)) throw ArgError{"pairAccumulate: sizes differ"};
    const int64_t t0 = static_cast<int64_t>(params[0]), t1 = static_cast<int64_t>(params[1]);
    const int32_t r0 = static_cast<int32_t>(params[2]), r1 = static_cast<int32_t>(params[3]);
    const int64_t per = static_cast<int64_t>(params[4]);
    int64_t capN = static_cast<int64_t>(params[5]);
    const int64_t budget = static_cast<int64_t>(params[6]);
    if (t0 < 0 || t1 < t0 || static_cast<size_t>(t1) >= naip || static_cast<size_t>(t1) >= nbip || per < 1 || (r1 - r0 + per - 1) / per > nb)
      throw ArgError{"pairAccumulate: token or row range out of bounds"};
    for (int64_t u = t0; u < t1; u++)
      if (aIndptr[u] > aIndptr[u + 1] || bIndptr[u] > bIndptr[u + 1] || aIndptr[u + 1] > static_cast<int64_t>(nai) || bIndptr[u + 1] > static_cast<int64_t>(nbi))
        throw ArgError{"pairAccumulate: indptr out of bounds"};
    std::vector<GrowingTable> tables(nb);
    for (uint32_t b = 0; b < nb; b++) {
      tables[b].t = tableArg(env, args, b, caps[b], sizes[b], "pairAccumulate: a table is not an Int32Array / Float64Array pair of 6 / 3 words per slot");
    }
    // indices are checked once (JavaScript arrays would read undefined; here they would read out of bounds)
    for (int64_t u = t0; u < t1; u++) {
      for (int64_t a = aIndptr[u]; a < aIndptr[u + 1]; a++)
        if (lbA && aIdx[a] >= r0 && aIdx[a] < r1 && static_cast<size_t>(aIdx[a]) >= nlbA) throw ArgError{"pairAccumulate: a layer-L index exceeds its bounds array"};
      for (int64_t b = bIndptr[u]; b < bIndptr[u + 1]; b++)
        if (bIdx[b] < 0 || (lbB && static_cast<size_t>(bIdx[b]) >= nlbB)) throw ArgError{"pairAccumulate: a layer-L+1 index is out of range"};
    }
    const int64_t nAlive = cross ? static_cast<int64_t>(nalive) : 0;
    const int maxThreads = omp_get_max_threads();
    std::vector<double> aliveParts(static_cast<size_t>(maxThreads) * (nAlive > 0 ? nAlive : 1), 0.0);
    std::vector<int64_t> starts(nb + 1);
    std::vector<int32_t> recI, recJ;
    std::vector<double> recXY;
    std::vector<uint8_t> recF;
    int64_t entries = 0;
    for (uint32_t b = 0; b < nb; b++) entries += tables[b].t.size;
    bool failed = false;
    int64_t t = t0;
    while (t < t1 && !failed) {
      // count phase: the chunk [t, u), as the JavaScript loop cuts it
      std::fill(starts.begin(), starts.end(), 0);
      int64_t total = 0, u = t;
      for (; u < t1; u++) {
        const int64_t nbT = bIndptr[u + 1] - bIndptr[u];
        if (nbT == 0) continue;
        int64_t rowsT = 0;
        for (int64_t a = aIndptr[u]; a < aIndptr[u + 1]; a++) if (aIdx[a] >= r0 && aIdx[a] < r1) rowsT++;
        const int64_t need = rowsT * nbT;
        const int64_t cap = capN > 0 ? capN : (1 << 21);
        if (total + need > cap && u > t && total > 0) break;
        if (capN == 0 || capN < need) capN = std::max<int64_t>(1 << 21, need);
        for (int64_t a = aIndptr[u]; a < aIndptr[u + 1]; a++) {
          const int32_t i = aIdx[a];
          if (i >= r0 && i < r1) starts[(i - r0) / per + 1] += nbT;
        }
        total += need;
      }
      if (total == 0) { t = u; continue; }
      for (uint32_t q = 0; q < nb; q++) starts[q + 1] += starts[q];
      if (static_cast<int64_t>(recI.size()) < total) { recI.resize(total); recJ.resize(total); recXY.resize(total); recF.resize(total); }
      // each thread fills and applies a contiguous range of blocks holding about 1/threads of the records
      const int threads = threadsFor(total * 4);
      std::vector<uint32_t> split(threads + 1, nb);
      split[0] = 0;
      for (int k = 1, q = 0; k < threads; k++) {
        while (q < static_cast<int>(nb) && starts[q] * threads < total * k) q++;
        split[k] = static_cast<uint32_t>(q);
      }
      int failures = 0;
#pragma omp parallel num_threads(threads) reduction(+ : failures)
      {
        const int me = omp_get_thread_num();
        const uint32_t q0 = split[me], q1 = split[me + 1];
        double* myAlive = aliveParts.data() + static_cast<int64_t>(me) * (nAlive > 0 ? nAlive : 1);
        if (q0 < q1) {
          const int32_t lo = static_cast<int32_t>(r0 + q0 * per), hi = static_cast<int32_t>(std::min<int64_t>(r1, r0 + q1 * per));
          std::vector<int64_t> fill(starts.begin() + q0, starts.begin() + q1);
          for (int64_t v = t; v < u; v++) {
            const int64_t b0 = bIndptr[v], b1 = bIndptr[v + 1];
            if (b0 == b1) continue;
            for (int64_t a = aIndptr[v]; a < aIndptr[v + 1]; a++) {
              const int32_t i = aIdx[a];
              if (i < lo || i >= hi) continue;
              const double x = aVal[a];
              const bool xPos = x > 0;
              const bool xRel = lbA && x > lbA[i];
              int64_t& f = fill[(i - r0) / per - q0];
              for (int64_t b = b0; b < b1; b++) {
                const int32_t j = bIdx[b];
                const double y = bVal[b];
                recI[f] = i; recJ[f] = j; recXY[f] = x * y;
                recF[f] = static_cast<uint8_t>((xPos && y > 0 ? 1 : 0) | (xRel && y > lbB[j] ? 2 : 0));
                f++;
              }
            }
          }
          constexpr int64_t kAhead = 12;  // records whose slots are prefetched ahead of the insert (the tables exceed the caches)
          for (uint32_t q = q0; q < q1 && failures == 0; q++) {
            GrowingTable& g = tables[q];
            const int64_t rEnd = starts[q + 1];
            for (int64_t r = starts[q]; r < std::min(rEnd, starts[q] + kAhead); r++)
              __builtin_prefetch(g.t.i32 + static_cast<int64_t>(slotHash(recI[r], recJ[r]) & static_cast<uint32_t>(g.t.cap - 1)) * 6, 1);
            for (int64_t r = starts[q]; r < rEnd; r++) {
              if (r + kAhead < rEnd) {
                const int64_t s = slotHash(recI[r + kAhead], recJ[r + kAhead]) & static_cast<uint32_t>(g.t.cap - 1);
                __builtin_prefetch(g.t.i32 + s * 6, 1);
                __builtin_prefetch(g.t.f64 + s * 3 + 2, 1);
              }
              const uint8_t fl = recF[r];
              if (add(g.t, recI[r], recJ[r], recXY[r], fl & 1, fl >> 1, cross, static_cast<int64_t>(ncross), myAlive) && g.t.size * 2 > g.t.cap) {
                if (g.t.cap >= (int64_t{1} << 30) || !growTable(g)) { failures++; break; }
              }
            }
          }
        }
      }
      if (failures) { failed = true; break; }
      entries = 0;
      for (uint32_t b = 0; b < nb; b++) entries += tables[b].t.size;
      t = u;
      if (entries > budget) break;
    }
    for (int k = 0; k < maxThreads; k++)
      for (int64_t a = 0; a < nAlive; a++) alive[a] += aliveParts[static_cast<int64_t>(k) * nAlive + a];
    // hand the grown tables to JavaScript as ArrayBuffers of its own (copied: V8 then counts their memory and collects
    // dropped tables as promptly as the JavaScript path's; an external buffer's memory went unnoticed by the GC)
    for (uint32_t b = 0; b < nb; b++) {
      GrowingTable& g = tables[b];
      sizes[b] = static_cast<int32_t>(g.t.size);
      if (!g.owned) continue;
      const size_t bytes = static_cast<size_t>(g.t.cap) * 24;
      napi_value ab;
      void* data;
      if (napi_create_arraybuffer(env, bytes, &data, &ab) != napi_ok) { failed = true; std::free(g.owned); g.owned = nullptr; continue; }
      std::memcpy(data, g.owned, bytes);
      std::free(g.owned);
      g.owned = nullptr;
      caps[b] = static_cast<int32_t>(g.t.cap);
      napi_set_element(env, grownOut, b, ab);
    }
    params[0] = static_cast<double>(t);
    params[5] = static_cast<double>(capN);
    if (failed) throw ArgError{"pairAccumulate: out of memory growing a pair table (lower max_pairs_in_memory)"};
  });
}

namespace {

// One sorted run file read in chunks (24-byte records: i, j, count, countRel as int32, sumXY as float64).
struct RunReader {
  std::FILE* f = nullptr;
  std::vector<unsigned char> buf;
  size_t n = 0, k = 0;
  bool live = false;
  int32_t i = 0, j = 0, c = 0, cr = 0;
  double s = 0;
  bool next() {
    if (k >= n) {
      n = std::fread(buf.data(), 24, buf.size() / 24, f);
      k = 0;
      if (n == 0) return live = false;
    }
    const unsigned char* r = buf.data() + k * 24;
    std::memcpy(&i, r, 4); std::memcpy(&j, r + 4, 4); std::memcpy(&c, r + 8, 4); std::memcpy(&cr, r + 12, 4); std::memcpy(&s, r + 16, 8);
    k++;
    return live = true;
  }
};

std::string mergeError;

}  // namespace

// pairMergeRuns(inputs: string[], output: string, sync: boolean) -> records written. The row-major merge of sorted run
// files, records with the same (i, j) summed as MergeCursor sums them (from 0, in the order of `inputs`), written to
// `output` (fsync'd when `sync`). Throws naming the file when one cannot be read or written or is not whole records.
napi_value PairMergeRuns(napi_env env, napi_callback_info info) {
  int64_t written = 0;
  napi_value done = guard(env, [&] {
    Args args(env, info);
    auto str = [&](napi_value v) {
      size_t len;
      if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok) throw ArgError{"pairMergeRuns: expected file names"};
      std::string out(len, '\0');
      napi_get_value_string_utf8(env, v, out.data(), len + 1, &len);
      return out;
    };
    uint32_t n;
    if (napi_get_array_length(env, args.at(0), &n) != napi_ok) throw ArgError{"pairMergeRuns: expected an array of input files"};
    const std::string outName = str(args.at(1));
    bool sync = false;
    napi_get_value_bool(env, args.at(2), &sync);
    std::vector<RunReader> in(n);
    auto closeAll = [&] { for (auto& r : in) if (r.f) { std::fclose(r.f); r.f = nullptr; } };
    for (uint32_t k = 0; k < n; k++) {
      napi_value v;
      napi_get_element(env, args.at(0), k, &v);
      const std::string name = str(v);
      in[k].f = std::fopen(name.c_str(), "rb");
      long size = -1;
      if (in[k].f && std::fseek(in[k].f, 0, SEEK_END) == 0) { size = std::ftell(in[k].f); std::fseek(in[k].f, 0, SEEK_SET); }
      if (!in[k].f || size < 0 || size % 24 != 0) {
        closeAll();
        mergeError = name + (size < 0 ? ": cannot read this run file" : ": not a whole number of 24-byte pair records (truncated run file?)");
        throw ArgError{mergeError.c_str()};
      }
      in[k].buf.resize(24 * 16384);
      in[k].next();
    }
    std::FILE* out = std::fopen(outName.c_str(), "wb");
    if (!out) { closeAll(); mergeError = outName + ": cannot write the merged run"; throw ArgError{mergeError.c_str()}; }
    std::vector<unsigned char> ob(24 * 16384);
    size_t on = 0;
    bool ok = true;
    for (;;) {
      int32_t bi = 0, bj = 0;
      bool any = false;
      for (auto& r : in) if (r.live && (!any || r.i < bi || (r.i == bi && r.j < bj))) { bi = r.i; bj = r.j; any = true; }
      if (!any) break;
      uint32_t c = 0, cr = 0;
      double s = 0;
      for (auto& r : in) {
        if (!r.live || r.i != bi || r.j != bj) continue;
        c += static_cast<uint32_t>(r.c); cr += static_cast<uint32_t>(r.cr); s += r.s;
        r.next();
      }
      unsigned char* w = ob.data() + on * 24;
      std::memcpy(w, &bi, 4); std::memcpy(w + 4, &bj, 4); std::memcpy(w + 8, &c, 4); std::memcpy(w + 12, &cr, 4); std::memcpy(w + 16, &s, 8);
      written++;
      if (++on * 24 == ob.size()) { ok = ok && std::fwrite(ob.data(), 24, on, out) == on; on = 0; }
    }
    if (on) ok = ok && std::fwrite(ob.data(), 24, on, out) == on;
    ok = ok && std::fflush(out) == 0;
    if (ok && sync) ok = fsync(fileno(out)) == 0;
    ok = (std::fclose(out) == 0) && ok;
    closeAll();
    if (!ok) { mergeError = outName + ": writing the merged run failed (disk full?)"; throw ArgError{mergeError.c_str()}; }
  });
  if (done != nullptr) return done;
  napi_value r;
  napi_create_int64(env, written, &r);
  return r;
}

// pairRehash(oldI32[], oldF64[], newI32[], newF64[], sizes: Int32Array): for each table k, every occupied slot of the
// old table re-added, in slot order, to the empty new one (as PairTable.grow does); sizes[k] = its entry count.
// The tables are rehashed in parallel.
napi_value PairRehash(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args args(env, info);
    uint32_t n;
    napi_get_array_length(env, args.at(0), &n);
    size_t nsizes;
    int32_t* sizes = args.typed<int32_t>(4, &nsizes);
    if (nsizes != n) throw ArgError{"pairRehash: sizes differ"};
    auto view = [&](size_t arg, uint32_t k, napi_typedarray_type want, size_t* len) -> void* {
      napi_value v, buf;
      napi_get_element(env, args.at(arg), k, &v);
      napi_typedarray_type t;
      size_t off;
      void* d;
      if (napi_get_typedarray_info(env, v, &t, len, &d, &buf, &off) != napi_ok || t != want) throw ArgError{"pairRehash: expected Int32Array / Float64Array tables"};
      return d;
    };
    std::vector<const int32_t*> oi(n);
    std::vector<const double*> of(n);
    std::vector<Table> nt(n);
    std::vector<int64_t> oldCap(n);
    int64_t work = 0;
    for (uint32_t k = 0; k < n; k++) {
      size_t loi, lof, lni, lnf;
      oi[k] = static_cast<const int32_t*>(view(0, k, napi_int32_array, &loi));
      of[k] = static_cast<const double*>(view(1, k, napi_float64_array, &lof));
      int32_t* ni = static_cast<int32_t*>(view(2, k, napi_int32_array, &lni));
      double* nf = static_cast<double*>(view(3, k, napi_float64_array, &lnf));
      oldCap[k] = static_cast<int64_t>(lof / 3);
      const int64_t newCap = static_cast<int64_t>(lnf / 3);
      if (loi != 2 * lof || lni != 2 * lnf || (newCap & (newCap - 1)) != 0) throw ArgError{"pairRehash: sizes differ"};
      nt[k] = Table{ni, nf, newCap, 0};
      work += oldCap[k];
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(threadsFor(work * 4))
    for (int64_t k = 0; k < static_cast<int64_t>(n); k++) {
      for (int64_t s = 0; s < oldCap[k]; s++) {
        const int32_t* b = oi[k] + s * 6;
        if (b[0] == 0) continue;
        add(nt[k], b[0] - 1, b[1], of[k][s * 3 + 2], b[2], b[3], nullptr, 0, nullptr);
      }
      sizes[k] = static_cast<int32_t>(nt[k].size);
    }
  });
}

// pairSortBlocks(tablesI32[], tablesF64[], rowOffsets: Int32Array, dCols, outI, outJ, outC, outCR, outS, outStart: Int32Array)
// Each table's entries in row-major (i, then j) order into the out arrays at outStart[b] (the sum of the earlier
// tables' sizes), tables sorted in parallel.
napi_value PairSortBlocks(napi_env env, napi_callback_info info) {
  return guard(env, [&] {
    Args args(env, info);
    uint32_t nb;
    napi_get_array_length(env, args.at(0), &nb);
    size_t nro, noi, noj, noc, nocr, nos, nst;
    const int32_t* rowOffsets = args.typed<int32_t>(2, &nro);
    const int64_t dCols = args.i64(3);
    int32_t* outI = args.typed<int32_t>(4, &noi);
    int32_t* outJ = args.typed<int32_t>(5, &noj);
    int32_t* outC = args.typed<int32_t>(6, &noc);
    int32_t* outCR = args.typed<int32_t>(7, &nocr);
    double* outS = args.typed<double>(8, &nos);
    const int32_t* start = args.typed<int32_t>(9, &nst);
    if (nro != nb || nst != static_cast<size_t>(nb) + 1 || noj != noi || noc != noi || nocr != noi || nos != noi || static_cast<size_t>(start[nb]) != noi)
      throw ArgError{"pairSortBlocks: sizes differ"};
    std::vector<const int32_t*> ti(nb);
    std::vector<const double*> tf(nb);
    std::vector<int64_t> caps(nb);
    for (uint32_t b = 0; b < nb; b++) {
      const Table t = tableArg(env, args, b, -1, 0, "pairSortBlocks: a table is not an Int32Array / Float64Array pair");
      ti[b] = t.i32;
      tf[b] = t.f64;
      caps[b] = t.cap;
    }
    int threads = threadsFor(static_cast<int64_t>(noi) * 16);
#pragma omp parallel num_threads(threads)
    {
      std::vector<std::pair<uint64_t, int64_t>> keys;
#pragma omp for schedule(dynamic, 4)
      for (int64_t b = 0; b < static_cast<int64_t>(nb); b++) {
        keys.clear();
        const int32_t* t = ti[b];
        for (int64_t s = 0; s < caps[b]; s++) {
          if (t[s * 6] == 0) continue;
          const uint64_t key = static_cast<uint64_t>(static_cast<int64_t>(t[s * 6] - 1 - rowOffsets[b])) * static_cast<uint64_t>(dCols) + static_cast<uint64_t>(t[s * 6 + 1]);
          keys.emplace_back(key, s);
        }
        if (static_cast<int64_t>(keys.size()) != start[b + 1] - start[b]) continue;  // checked in JS: sizes must match
        std::sort(keys.begin(), keys.end());
        int64_t o = start[b];
        for (const auto& [key, s] : keys) {
          const int32_t* e = t + s * 6;
          outI[o] = e[0] - 1; outJ[o] = e[1]; outC[o] = e[2]; outCR[o] = e[3]; outS[o] = tf[b][s * 3 + 2];
          o++;
        }
      }
    }
  });
}

}  // namespace saelab
