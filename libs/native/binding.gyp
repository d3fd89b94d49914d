{
  "target_defaults": {
    "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-fexceptions", "-Wno-psabi"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti"]
  },
  "targets": [
    {
      "target_name": "gap_native",
      "sources": ["src/gap_native.cc"],
      "cflags_cc": ["-fno-trapping-math"],
      "dependencies": ["loops_avx512", "loops_avx2", "loops_sse2"],
      "libraries": ["-ldnnl", "-fopenmp"]
    },
    {
      "target_name": "loops_avx512",
      "type": "static_library",
      "sources": ["src/elementwise.cc"],
      "defines": ["GAP_ISA=avx512"],
      "cflags_cc": ["-ffp-contract=off", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq"]
    },
    {
      "target_name": "loops_avx2",
      "type": "static_library",
      "sources": ["src/elementwise.cc"],
      "defines": ["GAP_ISA=avx2"],
      "cflags_cc": ["-ffp-contract=off", "-mavx2", "-mfma"]
    },
    {
      "target_name": "loops_sse2",
      "type": "static_library",
      "sources": ["src/elementwise.cc"],
      "defines": ["GAP_ISA=sse2"],
      "cflags_cc": ["-ffp-contract=off"]
    }
  ]
}
