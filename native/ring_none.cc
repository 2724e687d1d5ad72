// Ring where there is no io_uring (macOS, FreeBSD, the kqueue build on
// Linux): Open and Probe say so, and the Pump stays on its selector.
#include "ring.h"

namespace edgeloop {

std::unique_ptr<Ring> Ring::Open(uint8_t*, uint32_t, uint32_t, std::string* why) {
  *why = Probe();
  return nullptr;
}

std::string Ring::Probe() { return "io_uring exists only on Linux's epoll build"; }

}  // namespace edgeloop
