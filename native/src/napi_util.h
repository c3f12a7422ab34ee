// Small helpers for reading Node-API arguments: typed-array pointers, integers, shape arrays.
#pragma once
#include <node_api.h>
#include <cstdint>
#include <cstddef>
#include <vector>

namespace saelab {

// Thrown (as a C++ exception) when an argument is malformed; turned into a JS Error at the boundary.
struct ArgError {
  const char* msg;
};

struct Args {
  napi_env env;
  size_t argc = 24;
  napi_value argv[24];
  Args(napi_env e, napi_callback_info info) : env(e) {
    napi_get_cb_info(e, info, &argc, argv, nullptr, nullptr);
  }
  napi_value at(size_t i) const {
    if (i >= argc) throw ArgError{"missing argument"};
    return argv[i];
  }
  // Pointer to the first element of a TypedArray (any element type), and its element count.
  template <typename T>
  T* typed(size_t i, size_t* length = nullptr) const {
    napi_typedarray_type type;
    size_t len;
    void* data;
    napi_value buf;
    size_t off;
    if (napi_get_typedarray_info(env, at(i), &type, &len, &data, &buf, &off) != napi_ok)
      throw ArgError{"expected a TypedArray"};
    if (length) *length = len;
    return static_cast<T*>(data);
  }
  int64_t i64(size_t i) const {
    int64_t v;
    if (napi_get_value_int64(env, at(i), &v) != napi_ok) throw ArgError{"expected an integer"};
    return v;
  }
  double f64(size_t i) const {
    double v;
    if (napi_get_value_double(env, at(i), &v) != napi_ok) throw ArgError{"expected a number"};
    return v;
  }
  bool isNull(size_t i) const {
    if (i >= argc) return true;
    napi_valuetype t;
    napi_typeof(env, argv[i], &t);
    return t == napi_null || t == napi_undefined;
  }
  // A JS array of integers (a shape, strides or permutation).
  std::vector<int64_t> ints(size_t i) const {
    uint32_t n;
    napi_value arr = at(i);
    if (napi_get_array_length(env, arr, &n) != napi_ok) throw ArgError{"expected an array of integers"};
    std::vector<int64_t> out(n);
    for (uint32_t k = 0; k < n; k++) {
      napi_value e;
      napi_get_element(env, arr, k, &e);
      if (napi_get_value_int64(env, e, &out[k]) != napi_ok) throw ArgError{"expected an array of integers"};
    }
    return out;
  }
};

}  // namespace saelab
