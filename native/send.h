// Sending bytes without SIGPIPE, shared by write() (sys_io.cc) and the
// Pump's corked writes (pump_write.cc).
#ifndef EDGELOOP_SEND_H_
#define EDGELOOP_SEND_H_

#include <errno.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstddef>

#include "eintr.h"

namespace edgeloop {

#ifdef MSG_NOSIGNAL
constexpr int kSendFlags = MSG_NOSIGNAL;
#else
constexpr int kSendFlags = 0;  // SO_NOSIGPIPE is set on the socket instead
#endif

// send(), or write() when fd is not a socket (a pipe, a tty: Node ignores
// SIGPIPE). Returns the byte count, or -1 with errno set.
inline ssize_t SendBytes(int fd, const void* p, size_t n) {
  ssize_t r = RetryOnEintr([&] { return send(fd, p, n, kSendFlags); });
  if (r < 0 && errno == ENOTSOCK) {
    r = RetryOnEintr([&] { return write(fd, p, n); });
  }
  return r;
}

}  // namespace edgeloop

#endif  // EDGELOOP_SEND_H_
