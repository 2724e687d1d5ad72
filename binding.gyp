{
  "targets": [
    {
      "target_name": "edgeloop",
      "sources": [
        "native/addon.cc",
        "native/poll.cc",
        "native/sys.cc",
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
        ["OS=='linux'", {
          "sources": ["native/selector_epoll.cc", "native/diag_linux.cc"]
        }],
        ["OS=='mac' or OS=='freebsd' or OS=='openbsd'", {
          "sources": ["native/selector_kqueue.cc", "native/diag_none.cc"]
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
