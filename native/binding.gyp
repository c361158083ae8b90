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
        "src/binding/inject.cc",
        "src/binding/marshal.cc",
        "src/binding/probes.cc",
        "src/binding/start_errors.cc",
        "src/binding/test_hooks.cc",
        "src/core/buffer_ring.c",
        "src/core/capabilities.c",
        "src/core/copy_placement.c",
        "src/core/cpu_accounting.c",
        "src/core/sqpoll_stats.c",
        "src/core/syscall_cost.c",
        "src/core/cpu_list.c",
        "src/core/engine.c",
        "src/core/engine_snapshot.c",
        "src/core/fd_limit.c",
        "src/core/lab_threads.c",
        "src/core/latency_histogram.c",
        "src/core/load.c",
        "src/core/memory_needs.c",
        "src/core/prefault.c",
        "src/core/ring_setup.c",
        "src/core/server.c",
        "src/core/tcp_segments.c",
        "src/core/worker.c",
        "src/inject/cpu_hog.c",
        "src/inject/inject.c",
        "src/inject/memory_pressure.c",
        "src/inject/softirq_load.c",
        "src/loads/echo_load.c",
        "src/loads/echo_load_request.c",
        "src/loads/loads.c",
        "src/loads/storage_load.c",
        "src/probes/probe_loader.c",
        "src/probes/probe_reader.c",
        "src/probes/probe_sampling.c",
        "src/probes/probe_transport.c",
        "src/servers/epoll_echo.c",
        "src/servers/epoll_echo_conn.c",
        "src/servers/servers.c",
        "src/servers/uring_echo.c",
        "src/servers/uring_echo_conn.c",
        "src/servers/uring_echo_listen.c"
      ],
      "dependencies": ["probes_bpf"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "src",
        "<(SHARED_INTERMEDIATE_DIR)/probes"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED"
      ],
      "cflags!": ["-fno-exceptions", "-O3"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-fno-omit-frame-pointer"],
      "cflags_c": ["-std=gnu11"],
      "cflags_cc": ["-fexceptions"],
      "libraries": ["-luring", "-lpthread", "-lbpf", "-lelf", "-lz"]
    },
    {
      "target_name": "probes_bpf",
      "type": "none",
      "actions": [
        {
          "action_name": "build_bpf_probes",
          "message": "probes: vmlinux.h, BPF objects and skeletons",
          "inputs": [
            "src/probes/build_bpf.sh",
            "src/probes/kernel_histogram.h",
            "src/probes/probe_common.bpf.h",
            "src/probes/uring_latency.bpf.c", "src/probes/uring_latency.h",
            "src/probes/uring_calls.bpf.c", "src/probes/uring_calls.h",
            "src/probes/runqueue.bpf.c", "src/probes/runqueue.h",
            "src/probes/sqpoll.bpf.c", "src/probes/sqpoll.h", "src/probes/sqpoll.bpf.h",
            "src/probes/softirq.bpf.c", "src/probes/softirq.h",
            "src/probes/tcp_events.bpf.c", "src/probes/tcp_events.h",
            "src/probes/offcpu.bpf.c", "src/probes/offcpu.h", "src/probes/offcpu.bpf.h",
            "src/probes/memory.bpf.c", "src/probes/memory.h",
            "src/probes/profile.bpf.c", "src/probes/profile.h"
          ],
          "outputs": [
            "<(SHARED_INTERMEDIATE_DIR)/probes/uring_latency.skel.h",
            "<(SHARED_INTERMEDIATE_DIR)/probes/uring_calls.skel.h",
            "<(SHARED_INTERMEDIATE_DIR)/probes/runqueue.skel.h",
            "<(SHARED_INTERMEDIATE_DIR)/probes/sqpoll.skel.h",
            "<(SHARED_INTERMEDIATE_DIR)/probes/softirq.skel.h",
            "<(SHARED_INTERMEDIATE_DIR)/probes/tcp_events.skel.h",
            "<(SHARED_INTERMEDIATE_DIR)/probes/offcpu.skel.h",
            "<(SHARED_INTERMEDIATE_DIR)/probes/memory.skel.h",
            "<(SHARED_INTERMEDIATE_DIR)/probes/profile.skel.h"
          ],
          "action": ["bash", "src/probes/build_bpf.sh", "<(SHARED_INTERMEDIATE_DIR)/probes",
                     "uring_latency", "uring_calls", "runqueue", "sqpoll", "softirq", "tcp_events",
                     "offcpu", "memory", "profile"]
        }
      ]
    },
    {
      "target_name": "uring-lab-probe-helper",
      "type": "executable",
      "dependencies": ["probes_bpf"],
      "sources": [
        "src/core/cpu_list.c",
        "src/probes/probe_helper.c",
        "src/probes/probe_loader.c",
        "src/probes/probe_transport.c"
      ],
      "include_dirs": ["src", "<(SHARED_INTERMEDIATE_DIR)/probes"],
      "cflags!": ["-O3"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "cflags_c": ["-std=gnu11"],
      "libraries": ["-lbpf", "-lelf", "-lz"]
    }
  ]
}
