// Cross-layer pair accumulators (lib/analysis/crosslayer/pairTable.ts) natively: the same open-addressing tables
// (24-byte slots: i + 1, j, count, countRel as int32, sumXY as float64; the same hash and linear probing) filled
// block by block, the row blocks spread over the threads (each block's table is touched by one thread only), and
// each block's entries sorted row-major. Same slots, same sums in the same order: the JavaScript tables' bits.
#include <algorithm>
#include <cstdint>
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
      napi_value vi, vf;
      napi_get_element(env, args.at(0), b, &vi);
      napi_get_element(env, args.at(1), b, &vf);
      napi_typedarray_type ti, tf;
      size_t li, lf, oi, of;
      void *di, *df;
      napi_value bi, bf;
      if (napi_get_typedarray_info(env, vi, &ti, &li, &di, &bi, &oi) != napi_ok || napi_get_typedarray_info(env, vf, &tf, &lf, &df, &bf, &of) != napi_ok ||
          ti != napi_int32_array || tf != napi_float64_array || static_cast<int64_t>(li) != 6 * static_cast<int64_t>(caps[b]) ||
          static_cast<int64_t>(lf) != 3 * static_cast<int64_t>(caps[b]) || (caps[b] & (caps[b] - 1)) != 0)
        throw ArgError{"pairInsert: a table is not an Int32Array / Float64Array pair of 6 / 3 words per slot"};
      tables[b] = Table{static_cast<int32_t*>(di), static_cast<double*>(df), caps[b], sizes[b]};
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
      napi_value vi, vf;
      napi_get_element(env, args.at(0), b, &vi);
      napi_get_element(env, args.at(1), b, &vf);
      napi_typedarray_type t1, t2;
      size_t l1, l2, o1, o2;
      void *d1, *d2;
      napi_value b1, b2;
      if (napi_get_typedarray_info(env, vi, &t1, &l1, &d1, &b1, &o1) != napi_ok || napi_get_typedarray_info(env, vf, &t2, &l2, &d2, &b2, &o2) != napi_ok ||
          t1 != napi_int32_array || t2 != napi_float64_array || l1 != 2 * l2)
        throw ArgError{"pairSortBlocks: a table is not an Int32Array / Float64Array pair"};
      ti[b] = static_cast<const int32_t*>(d1);
      tf[b] = static_cast<const double*>(d2);
      caps[b] = static_cast<int64_t>(l2 / 3);
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
