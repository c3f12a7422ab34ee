{
  "targets": [
    {
      "target_name": "saelab_native",
      "sources": ["src/addon.cc", "src/matmul.cc", "src/elementwise.cc", "src/reduce.cc", "src/layout.cc", "src/fused.cc", "src/sparse.cc", "src/sae.cc", "src/transformer.cc", "src/pairs.cc", "src/bf16.cc", "src/finite.cc", "src/allocator.cc", "src/mapfile.cc"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-O3", "-fopenmp", "-std=c++17", "-fno-math-errno", "-fno-trapping-math", "<!@(node -p \"process.env.SAELAB_NATIVE_CFLAGS || ''\")", "<!@(node -p \"process.env.SAELAB_DNNL_CFLAGS ?? (require('fs').existsSync('/usr/include/oneapi/dnnl/dnnl.h') ? '-DSAELAB_HAVE_DNNL' : '')\")"],
      "cflags": ["-O3", "-fopenmp"],
      "ldflags": ["-fopenmp", "-ldl"],
      "libraries": ["<!@(node -p \"process.env.SAELAB_BLAS_LIBS || '-lopenblas'\")"],
      "include_dirs": ["<!@(node -p \"process.env.SAELAB_BLAS_INCLUDE || '/usr/include/x86_64-linux-gnu /usr/include/openblas'\")"]
    }
  ]
}
