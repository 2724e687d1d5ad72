// Socket syscalls as free functions on integer fds, in one file per job:
//   sys_socket.cc     opening sockets, bind/listen/shutdown/close, options
//   sys_io.cc         connect, accept and moving bytes
//   sys_address.cc    address slots: encoding, decoding, socket names
//   sys_waker.cc      wake(): the thread-safe signal to a Poll's waker
//   sys_inherit.cc    checking and adopting inherited sockets (activation, inetd)
//   sys_constants.cc  the `constants` object, read from the platform headers
//
// Each function returns a number: the result on success, -errno on failure.
// No errno ever becomes an exception here; src/errors.ts decides, so that
// EAGAIN stays a cheap return value on the hot path. Only bad arguments
// throw.
//
// Addresses travel in an "address slot": a Uint8Array of kSlotSize bytes,
// [uint32 socklen][4 bytes padding][sockaddr_storage]. Only sys_address.cc
// reads or writes the sockaddr inside, so its layout (sin_len on BSD, ...)
// never leaks into TypeScript; the other files pass it to the kernel whole.
#ifndef EDGELOOP_SYS_H_
#define EDGELOOP_SYS_H_

#include <errno.h>
#include <napi.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace edgeloop {

// Each adds its file's functions to exports.
void ExportSysSocket(Napi::Env env, Napi::Object exports);
void ExportSysIo(Napi::Env env, Napi::Object exports);
void ExportSysAddress(Napi::Env env, Napi::Object exports);
void ExportSysWaker(Napi::Env env, Napi::Object exports);
void ExportSysInherit(Napi::Env env, Napi::Object exports);
// Adds the `constants` object.
void ExportSysConstants(Napi::Env env, Napi::Object exports);

// One exported function: its JS name and its entry point.
struct SysFunction {
  const char* name;
  Napi::Value (*fn)(const Napi::CallbackInfo&);
};

template <size_t N>
void ExportFunctions(Napi::Env env, Napi::Object exports,
                     const SysFunction (&fns)[N]) {
  for (const SysFunction& f : fns) {
    exports.Set(f.name, Napi::Function::New(env, f.fn, f.name));
  }
}

inline Napi::Number Num(Napi::Env env, double v) {
  return Napi::Number::New(env, v);
}

// A syscall's result as the JS side reads it: the value, or -errno.
inline Napi::Number Result(Napi::Env env, ssize_t r) {
  return Num(env, r < 0 ? -errno : static_cast<double>(r));
}

constexpr size_t kSlotHeader = 8;
constexpr size_t kSlotSize = kSlotHeader + sizeof(struct sockaddr_storage);

// An address slot's two parts, pointing into the JS buffer.
struct Slot {
  uint32_t* len;
  struct sockaddr_storage* addr;
};

// The address slot at argument i: large enough and 8-byte aligned, or a
// RangeError (false).
bool ArgSlot(const Napi::CallbackInfo& info, size_t i, Slot* slot);

// The slot's stored length, capped at the sockaddr's size so a hostile
// length never lets the kernel read past the slot.
socklen_t SlotLen(const Slot& s);

// Records in the slot the sender address of length alen that recvfrom(fd)
// just wrote. Length 0 (no sender named) becomes an unnamed Unix address
// on a Unix socket and an empty slot (length 0, decoded as null) on any
// other, so a TCP read never passes for a Unix peer.
void StoreSender(int fd, const Slot& s, socklen_t alen);

// Makes an fd non-blocking, close-on-exec and, where the platform has
// SO_NOSIGPIPE, free of SIGPIPE: for fds the kernel could not create that
// way. Returns 0 or -errno; the fd stays open either way.
int PrepareFd(int fd);

}  // namespace edgeloop

#endif  // EDGELOOP_SYS_H_
