{
  "targets": [
    {
      "target_name": "saelab_native",
      "sources": ["src/addon.cc", "src/matmul.cc", "src/elementwise.cc", "src/reduce.cc", "src/layout.cc"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-O3", "-march=native", "-fopenmp", "-std=c++17"],
      "cflags": ["-O3", "-march=native", "-fopenmp"],
      "ldflags": ["-fopenmp"],
      "libraries": ["<!@(node -p \"process.env.SAELAB_BLAS_LIBS || '-lopenblas'\")"],
      "include_dirs": ["<!@(node -p \"process.env.SAELAB_BLAS_INCLUDE || '/usr/include/x86_64-linux-gnu /usr/include/openblas'\")"]
    }
  ]
}
