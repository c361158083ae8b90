{
  "targets": [
    {
      "target_name": "uring_lab",
      "sources": [
        "src/binding.cc",
        "src/engine.c",
        "src/echo_server.c",
        "src/load_generator.c",
        "src/ring_setup.c",
        "src/latency_histogram.c",
        "src/cpu_accounting.c",
        "src/capability_probe.c"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "src"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED"
      ],
      "cflags!": ["-fno-exceptions", "-O3"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "cflags_c": ["-std=gnu11"],
      "cflags_cc": ["-fexceptions"],
      "libraries": ["-luring", "-lpthread"]
    }
  ]
}
