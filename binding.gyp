{
  "targets": [
    {
      "target_name": "shmring",
      "sources": [
        "native/addon/addon.cc",
        "native/addon/doorbell_poll.cc",
        "native/addon/exit_watcher.cc",
        "native/addon/fifo.cc",
        "native/addon/futex.cc",
        "native/addon/js_error.cc",
        "native/addon/shm.cc",
        "native/addon/waiter.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags": ["-Wall", "-Wextra", "-fexceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-fexceptions"],
      "conditions": [
        ["OS!='linux'", { "type": "none", "sources": [] }]
      ]
    }
  ]
}
