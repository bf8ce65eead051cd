// An advisory lock on a directory (a run directory that a program writes), so that two programs
// writing the same directory do not silently lose one run: the second is refused and told who
// holds it.
#pragma once

#include <string>

namespace cnn::io {

class DirLock {
 public:
  // Takes an exclusive flock(2) on DIR/.lock (created when missing), without waiting, and writes
  // the holder there (program, pid, host, start time). Throws Error ("DIR is in use by cnn-train
  // (pid 123 on host, since 2026-12-03 21:50:00 UTC); ...") when another process holds it, IoError
  // when the lock file cannot be created. The lock ends with the object or the process.
  explicit DirLock(const std::string& dir);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  DirLock(DirLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }

  // The lock file's name inside the directory.
  static constexpr const char* kName = ".lock";

 private:
  int fd_ = -1;
};

}  // namespace cnn::io
