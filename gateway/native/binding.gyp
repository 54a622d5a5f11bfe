{
  "targets": [
    {
      "target_name": "livegate_native",
      "sources": ["srtp_send.cc"],
      "cflags_cc": ["-O2", "-std=c++17", "-Wno-deprecated-declarations"],
      "defines": ["NAPI_VERSION=8", "OPENSSL_SUPPRESS_DEPRECATED"]
    }
  ]
}
