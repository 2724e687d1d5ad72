// The fds this addon instance opened, so they can be closed when the
// environment (a worker thread, say) is torn down with sockets still open.
#ifndef EDGELOOP_FD_TABLE_H_
#define EDGELOOP_FD_TABLE_H_

#include <unistd.h>

#include <cstdint>
#include <vector>

namespace edgeloop {

// A bitmap indexed by fd: adding and removing allocate nothing once it has
// grown past the highest fd in use.
class FdTable {
 public:
  void Add(int fd) {
    if (fd < 0) return;
    size_t i = static_cast<size_t>(fd);
    if (i >= open_.size()) open_.resize(i + 64, 0);
    open_[i] = 1;
  }
  void Remove(int fd) {
    if (fd >= 0 && static_cast<size_t>(fd) < open_.size()) open_[fd] = 0;
  }
  void CloseAll() {
    for (size_t i = 0; i < open_.size(); i++) {
      if (open_[i]) close(static_cast<int>(i));
    }
    open_.clear();
  }

 private:
  std::vector<uint8_t> open_;
};

}  // namespace edgeloop

#endif  // EDGELOOP_FD_TABLE_H_
