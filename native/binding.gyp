{
  "targets": [
    {
      "target_name": "uring_lab",
      "sources": [
        "src/binding/addon.cc",
        "src/binding/capabilities.cc",
        "src/binding/config.cc",
        "src/binding/engine_calls.cc",
        "src/binding/errno_words.cc",
        "src/binding/histogram.cc",
        "src/binding/marshal.cc",
        "src/binding/start_errors.cc",
        "src/binding/test_hooks.cc",
        "src/core/buffer_ring.c",
        "src/core/capabilities.c",
        "src/core/cpu_accounting.c",
        "src/core/engine.c",
        "src/core/engine_snapshot.c",
        "src/core/fd_limit.c",
        "src/core/latency_histogram.c",
        "src/core/load.c",
        "src/core/memory_needs.c",
        "src/core/ring_setup.c",
        "src/core/server.c",
        "src/core/worker.c",
        "src/loads/echo_load.c",
        "src/loads/echo_load_request.c",
        "src/loads/loads.c",
        "src/loads/storage_load.c",
        "src/servers/epoll_echo.c",
        "src/servers/epoll_echo_conn.c",
        "src/servers/servers.c",
        "src/servers/uring_echo.c",
        "src/servers/uring_echo_conn.c",
        "src/servers/uring_echo_listen.c"
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
