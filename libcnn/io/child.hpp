// Running code that is not ours on a hostile file (libhdf5 reading a Keras weights file) in a
// forked child process with bounded memory and CPU time, so that a fault inside it becomes one
// refusal instead of a crash, a hang or the machine's memory (share/limits.md). The child sends
// its result back through a pipe; the parent reads it as it arrives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace cnn::io {

struct ChildLimits {
  // Bytes of address space the child may map beyond what it inherits from the parent. Not
  // applied in AddressSanitizer builds (its shadow memory is terabytes of address space).
  std::size_t memory = std::size_t{256} << 20;
  // Seconds of CPU time; past them the child is killed.
  unsigned cpu_seconds = 60;
};

// The child's end of the pipe. Throws IoError if the parent has gone.
class PipeOut {
 public:
  explicit PipeOut(int fd) : fd_(fd) {}
  void bytes(const void* data, std::size_t n);
  void u64(std::uint64_t v) { bytes(&v, sizeof v); }
  void str(const std::string& s);

 private:
  int fd_;
};

// The parent's end. When the child's data ends early, the read throws to run_in_child, which
// says why the child stopped.
class PipeIn {
 public:
  explicit PipeIn(int fd) : fd_(fd) {}
  void bytes(void* data, std::size_t n);
  std::uint64_t u64();
  // A string of at most max bytes (a longer one is a broken stream).
  std::string str(std::size_t max = std::size_t{1} << 20);

 private:
  int fd_;
};

// Runs work in a forked child under limits while the parent runs read on the other end of the
// pipe; returns when read has returned and the child has exited with success. what names the
// code in messages ("libhdf5"), file is the input it reads.
// An exception work throws is rethrown in the parent as the same libcnn type with the same
// sentence (FormatError, InputError, BudgetError, IoError; any other as cnn::Error). A child that
// dies instead (a signal, the CPU limit, an exit without finishing) is a FormatError(file):
// "<what> crashed (Segmentation fault) while reading the file (in a separate process); the file
// is damaged or hostile". Memory past the limit is a failed allocation inside the child: the
// code's own error for it, or a FormatError naming the limit for std::bad_alloc. If read
// throws, the child is killed and the exception propagates. The child never returns into the
// caller and exits without running atexit handlers or flushing stdio buffers it inherited.
void run_in_child(const std::string& what, const std::string& file, const ChildLimits& limits,
                  const std::function<void(PipeOut&)>& work,
                  const std::function<void(PipeIn&)>& read);

}  // namespace cnn::io
