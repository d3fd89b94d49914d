{
  "targets": [
    {
      "target_name": "gap_native",
      "sources": ["src/module.cc", "src/common.cc", "src/conv.cc", "src/conv3x3.cc", "src/pooling.cc", "src/batch_norm.cc", "src/elementwise.cc", "src/dropout.cc", "src/optimizer.cc", "src/copies.cc", "src/reductions.cc"],
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-fexceptions", "-fno-trapping-math", "-ffp-contract=off"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "libraries": ["-ldnnl", "-fopenmp"]
    }
  ]
}
