// What the two halves of the kqueue backend share (selector_kqueue.cc
// changes registrations, selector_kqueue_select.cc waits).
#ifndef EDGELOOP_SELECTOR_KQUEUE_H_
#define EDGELOOP_SELECTOR_KQUEUE_H_

#include <cstdint>
#include <vector>

#include "selector.h"

namespace edgeloop {

// The registration of `fd`, or null when the fd is not registered.
inline Registration* FindRegistration(std::vector<Registration>& table,
                                      uintptr_t fd) {
  if (fd >= table.size() || table[fd].interest == 0) return nullptr;
  return &table[fd];
}

}  // namespace edgeloop

#endif  // EDGELOOP_SELECTOR_KQUEUE_H_
