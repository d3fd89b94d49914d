{
  "targets": [
    {
      "target_name": "gap_native",
      "sources": ["src/gap_native.cc"],
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-fexceptions", "-fno-trapping-math", "-ffp-contract=off"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "libraries": ["-ldnnl", "-fopenmp"]
    }
  ]
}
