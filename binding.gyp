{
  "targets": [
    {
      "target_name": "edgeloop",
      "variables": {
        # EDGELOOP_BACKEND=kqueue builds the kqueue backend on Linux against
        # libkqueue, so its conformance can be tested there. The headers sit
        # in <prefix>/include/kqueue (sys/event.h); the library in
        # <prefix>/lib. Unset, the Linux build is the epoll one.
        "edgeloop_backend%": "<!(node -p \"process.env.EDGELOOP_BACKEND || ''\")",
        "edgeloop_kqueue_include%": "<!(node -p \"process.env.EDGELOOP_KQUEUE_INCLUDE || '/usr/include/kqueue'\")",
        "edgeloop_kqueue_lib%": "<!(node -p \"process.env.EDGELOOP_KQUEUE_LIB || ''\")"
      },
      "sources": [
        "native/addon.cc",
        "native/poll.cc",
        "native/poll_attach.cc",
        "native/pump.cc",
        "native/pump_write.cc",
        "native/pump_read.cc",
        "native/pump_ring.cc",
        "native/pump_ring_accept.cc",
        "native/pump_ring_open.cc",
        "native/pump_ring_send.cc",
        "native/sys_socket.cc",
        "native/sys_io.cc",
        "native/sys_address.cc",
        "native/sys_waker.cc",
        "native/sys_inherit.cc",
        "native/sys_constants.cc",
        "native/errno_names.cc",
        "native/passwd.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api"
      ],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": [
        # A worker terminated while it runs addon code cannot take a new JS
        # exception; without this node-addon-api aborts the whole process
        # (nodejs/node-addon-api#975).
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
      ],
      "conditions": [
        ["OS=='linux' and edgeloop_backend!='kqueue'", {
          "sources": ["native/selector_epoll.cc", "native/diag_linux.cc", "native/ring_linux.cc"]
        }],
        ["OS=='linux' and edgeloop_backend=='kqueue'", {
          "sources": ["native/selector_kqueue.cc", "native/selector_kqueue_select.cc",
                      "native/diag_linux.cc", "native/ring_none.cc"],
          "include_dirs": ["<(edgeloop_kqueue_include)"],
          "libraries": ["-lkqueue", "-lpthread"],
          "conditions": [
            ["edgeloop_kqueue_lib!=''", {
              "ldflags": ["-L<(edgeloop_kqueue_lib)"]
            }]
          ]
        }],
        ["OS=='mac' or OS=='freebsd'", {
          "sources": ["native/selector_kqueue.cc", "native/selector_kqueue_select.cc",
                      "native/diag_none.cc", "native/ring_none.cc"]
        }],
        ["OS=='mac'", {
          "xcode_settings": {
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "MACOSX_DEPLOYMENT_TARGET": "10.15"
          }
        }]
      ]
    }
  ]
}
