// Argument checks shared by every N-API entry point.
//
// The TypeScript layer validates arguments and throws the user-facing
// TypeError/RangeError; these checks exist so that nothing reaching the addon
// directly can make it read or write outside a buffer or act on a nonsense
// fd. Each helper throws a JS exception and returns false on failure (the
// addon is built without C++ exceptions).
#ifndef EDGELOOP_ARGS_H_
#define EDGELOOP_ARGS_H_

#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace edgeloop {

inline bool ThrowType(Napi::Env env, const char* msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return false;
}

inline bool ThrowRange(Napi::Env env, const char* msg) {
  Napi::RangeError::New(env, msg).ThrowAsJavaScriptException();
  return false;
}

// An integer in [lo, hi]. NaN, infinities and fractions are rejected rather
// than converted (napi's int64 conversion would read NaN as 0, which a read
// would then report as EOF).
inline bool ArgInt(const Napi::CallbackInfo& info, size_t i, int64_t lo,
                   int64_t hi, int64_t* out, const char* what) {
  double d = 0;
  if (i >= info.Length() ||
      napi_get_value_double(info.Env(), info[i], &d) != napi_ok) {
    return ThrowType(info.Env(), what);
  }
  if (!(d >= static_cast<double>(lo) && d <= static_cast<double>(hi)) ||
      d != static_cast<double>(static_cast<int64_t>(d))) {
    return ThrowRange(info.Env(), what);
  }
  *out = static_cast<int64_t>(d);
  return true;
}

inline bool ArgFd(const Napi::CallbackInfo& info, size_t i, int* fd) {
  int64_t v;
  if (!ArgInt(info, i, 0, INT32_MAX, &v, "fd must be a non-negative integer")) {
    return false;
  }
  *fd = static_cast<int>(v);
  return true;
}

inline bool ArgU32(const Napi::CallbackInfo& info, size_t i, uint32_t* out,
                   const char* what) {
  int64_t v;
  if (!ArgInt(info, i, 0, UINT32_MAX, &v, what)) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

// A typed array of kind `want` with at least `min_length` elements: its
// elements and their count. `what` names it in the TypeError.
template <typename T>
inline bool ArgTyped(const Napi::CallbackInfo& info, size_t i,
                     napi_typedarray_type want, size_t min_length, T** data,
                     size_t* length, const char* what) {
  napi_typedarray_type type;
  size_t n;
  void* ptr;
  if (i >= info.Length() ||
      napi_get_typedarray_info(info.Env(), info[i], &type, &n, &ptr, nullptr,
                               nullptr) != napi_ok ||
      type != want || n < min_length) {
    return ThrowType(info.Env(), what);
  }
  *data = static_cast<T*>(ptr);
  if (length != nullptr) *length = n;
  return true;
}

// A Uint8Array (Buffer included): its bytes and byte length.
inline bool ArgBytes(const Napi::CallbackInfo& info, size_t i, uint8_t** data,
                     size_t* len) {
  napi_typedarray_type type;
  size_t length;
  void* ptr;
  if (i >= info.Length() ||
      napi_get_typedarray_info(info.Env(), info[i], &type, &length, &ptr,
                               nullptr, nullptr) != napi_ok ||
      type != napi_uint8_array) {
    return ThrowType(info.Env(), "buffer must be a Uint8Array or Buffer");
  }
  *data = static_cast<uint8_t*>(ptr);
  *len = length;
  return true;
}

// A buffer plus (offset, length) arguments at i+1, i+2, checked to lie
// inside it. Yields a pointer to the first byte and the length.
inline bool ArgSlice(const Napi::CallbackInfo& info, size_t i, uint8_t** data,
                     size_t* len) {
  uint8_t* base;
  size_t size;
  int64_t off, n;
  if (!ArgBytes(info, i, &base, &size)) return false;
  if (!ArgInt(info, i + 1, 0, INT32_MAX, &off, "offset out of range") ||
      !ArgInt(info, i + 2, 0, INT32_MAX, &n, "length out of range")) {
    return false;
  }
  if (static_cast<uint64_t>(off) + static_cast<uint64_t>(n) > size) {
    return ThrowRange(info.Env(), "offset + length is past the buffer's end");
  }
  *data = base + off;
  *len = static_cast<size_t>(n);
  return true;
}

}  // namespace edgeloop

#endif  // EDGELOOP_ARGS_H_
