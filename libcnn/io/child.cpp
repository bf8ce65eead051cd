// run_in_child: fork, limits in the child (setrlimit), the result through one pipe and a thrown
// error through a second, and the child's fate turned into one sentence in the parent.
#include "io/child.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <new>
#include <optional>
#include <utility>

#include "io/atomic_file.hpp"
#include "tensor/budget.hpp"
#include "tensor/error.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define CNN_CHILD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CNN_CHILD_ASAN 1
#endif
#endif

// Set by libFuzzer in fuzz builds: it would save the input as a crash when the child dies.
extern "C" void __sanitizer_set_death_callback(void (*)(void)) __attribute__((weak));
// Fuzz builds (clang's inline 8-bit coverage counters, which libFuzzer reads): the linker's
// bounds of the counters' section; null in every other build.
extern "C" unsigned char __start___sancov_cntrs[] __attribute__((weak));
extern "C" unsigned char __stop___sancov_cntrs[] __attribute__((weak));

namespace cnn::io {
namespace {

// The data pipe ended before the parent's reader was done.
struct PipeEnded {};

// The error relayed from the child: kinds of libcnn errors and the fields to rebuild them.
enum class Kind : char { Format = 'F', Input = 'I', Budget = 'B', Io = 'O', Other = 'E' };
constexpr std::size_t kMaxMessage = 8192;  // far below a pipe's 64 KiB: the child never blocks

// A libcnn error type whose sentence is the one the child's error had.
template <class Base>
class Relayed final : public Base {
 public:
  template <class... Args>
  explicit Relayed(std::string message, Args&&... args)
      : Base(std::forward<Args>(args)...), message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Kills and reaps the child unless wait() has reaped it.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  int wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_;
};

// An error of the child, as it crosses the error pipe: the fields that rebuild it.
struct Relay {
  Kind kind = Kind::Other;
  std::string file;
  std::optional<std::uint64_t> offset;
  std::uint64_t bytes = 0;  // BudgetError's request
  std::string message;      // what()
};

void send(int fd, const Relay& r) {
  PipeOut out(fd);
  out.bytes(&r.kind, 1);
  out.u64(r.offset ? 1 : 0);
  out.u64(r.offset.value_or(0));
  out.u64(r.bytes);
  out.str(r.file.substr(0, kMaxMessage));
  out.str(r.message.substr(0, kMaxMessage));
}

// What the child sent on the error pipe, once it has exited; nullopt for nothing (or a record
// cut short, as by a crash while sending).
std::optional<Relay> receive(int fd) {
  try {
    PipeIn in(fd);
    Relay r;
    in.bytes(&r.kind, 1);
    const bool has_offset = in.u64() != 0;
    const std::uint64_t offset = in.u64();
    if (has_offset) r.offset = offset;
    r.bytes = in.u64();
    r.file = in.str(kMaxMessage);
    r.message = in.str(kMaxMessage);
    return r;
  } catch (const PipeEnded&) {
    return std::nullopt;
  }
}

// Fuzz builds only: libFuzzer counts what code an input reached in this process's coverage
// counters, and the child's are its own copy. The child leaves them in shared memory and the
// parent takes the larger of each pair, so that the fuzzer is guided by the code the child ran.
class ChildCoverage {
 public:
  ChildCoverage() {
    const unsigned char *begin = __start___sancov_cntrs, *end = __stop___sancov_cntrs;
    if (begin == nullptr || end <= begin) return;
    size_ = static_cast<std::size_t>(end - begin);
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    shared_ = p == MAP_FAILED ? nullptr : static_cast<unsigned char*>(p);
  }
  ~ChildCoverage() {
    if (shared_) ::munmap(shared_, size_);
  }
  ChildCoverage(const ChildCoverage&) = delete;
  ChildCoverage& operator=(const ChildCoverage&) = delete;
  void save() const {  // in the child, before it exits
    if (shared_) std::memcpy(shared_, __start___sancov_cntrs, size_);
  }
  void merge() const {  // in the parent, after the child has exited
    if (!shared_) return;
    for (std::size_t i = 0; i < size_; ++i)
      __start___sancov_cntrs[i] = std::max(__start___sancov_cntrs[i], shared_[i]);
  }

 private:
  unsigned char* shared_ = nullptr;
  std::size_t size_ = 0;
};

// The child: limits, work, and an exit that runs nothing of the parent's.
[[noreturn]] void child_main(const std::string& what, const std::string& file,
                             const ChildLimits& limits, int data_fd, int error_fd,
                             const ChildCoverage& coverage,
                             const std::function<void(PipeOut&)>& work) {
  int code = 1;
  std::optional<Relay> error;
  try {
    // Faults end the child, and only the child: no handler inherited from the parent (a
    // sanitizer's or libFuzzer's would report the parent's input as a crash) and no core file.
    for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE, SIGXCPU, SIGPIPE, SIGINT, SIGTERM})
      std::signal(sig, SIG_DFL);
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(nullptr);
    const rlimit core{0, 0};
    ::setrlimit(RLIMIT_CORE, &core);
    const rlimit cpu{limits.cpu_seconds, limits.cpu_seconds + 2};
    ::setrlimit(RLIMIT_CPU, &cpu);
#ifndef CNN_CHILD_ASAN
    unsigned long pages = 0;  // the address space inherited: /proc/self/statm's first field
    if (std::FILE* statm = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(statm, "%lu", &pages) != 1) pages = 0;
      std::fclose(statm);
    }
    if (pages > 0) {
      const rlim_t as = pages * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE)) + limits.memory;
      const rlimit space{as, as};
      ::setrlimit(RLIMIT_AS, &space);
    }
#endif
    PipeOut out(data_fd);
    work(out);
    code = 0;
  } catch (const FormatError& e) {
    error = Relay{Kind::Format, e.file(), e.offset(), 0, e.what()};
  } catch (const InputError& e) {
    error = Relay{Kind::Input, file, {}, 0, e.what()};
  } catch (const BudgetError& e) {
    error = Relay{Kind::Budget, file, {}, e.bytes(), e.what()};
  } catch (const IoError& e) {
    error = Relay{Kind::Io, file, {}, 0, e.what()};
  } catch (const std::bad_alloc&) {
    error = Relay{Kind::Format,
                  file,
                  {},
                  0,
                  file + ": " + what + " needs more than its memory limit of " +
                      format_bytes(limits.memory) +
                      " while reading the file (in a separate process); the file is damaged "
                      "or hostile"};
  } catch (const std::exception& e) {
    error = Relay{Kind::Other, file, {}, 0, e.what()};
  } catch (...) {
  }
  if (error) {
    try {
      send(error_fd, *error);
    } catch (...) {  // the parent has gone: nobody to tell
    }
  }
  coverage.save();
  ::_exit(code);
}

[[noreturn]] void rethrow(const Relay& r) {
  switch (r.kind) {
    case Kind::Format:
      throw Relayed<FormatError>(r.message, r.file, r.offset, std::string());
    case Kind::Input:
      throw Relayed<InputError>(r.message, r.file, std::string());
    case Kind::Budget:
      throw Relayed<BudgetError>(r.message, r.file, static_cast<std::size_t>(r.bytes),
                                 memory_budget());
    case Kind::Io:
      throw Relayed<IoError>(r.message, r.file, std::string(), std::string());
    case Kind::Other:
      break;
  }
  throw Error(r.message);
}

std::string describe(int status, bool finished, const ChildLimits& limits) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    if (sig == SIGXCPU || sig == SIGKILL)
      return "ran past its CPU-time limit of " + std::to_string(limits.cpu_seconds) +
             " s (or was killed by the system)";
    const char* name = ::strsignal(sig);
    return std::string("crashed (") + (name ? name : "signal " + std::to_string(sig)) + ")";
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
    return "stopped with exit status " + std::to_string(WEXITSTATUS(status)) +
           " (a fault inside it)";
  return finished ? "ended in an unexpected way" : "stopped before finishing";
}

}  // namespace

void PipeOut::bytes(const void* data, std::size_t n) {
  if (const int err = write_fully(fd_, data, n))
    throw IoError("<pipe to the parent>", "write", err);
}

void PipeOut::str(const std::string& s) {
  u64(s.size());
  bytes(s.data(), s.size());
}

void PipeIn::bytes(void* data, std::size_t n) {
  int err = 0;  // a failed read ends the data as its end does
  if (read_fully(fd_, data, n, err) != n) throw PipeEnded{};
}

std::uint64_t PipeIn::u64() {
  std::uint64_t v = 0;
  bytes(&v, sizeof v);
  return v;
}

std::string PipeIn::str(std::size_t max) {
  const std::uint64_t n = u64();
  if (n > max) throw PipeEnded{};
  std::string s(static_cast<std::size_t>(n), '\0');
  bytes(s.data(), s.size());
  return s;
}

void run_in_child(const std::string& what, const std::string& file, const ChildLimits& limits,
                  const std::function<void(PipeOut&)>& work,
                  const std::function<void(PipeIn&)>& read) {
  int data[2], error[2];
  if (::pipe2(data, O_CLOEXEC) != 0) throw IoError(file, "start a process for " + what, errno);
  Fd data_in(data[0]), data_out(data[1]);
  if (::pipe2(error, O_CLOEXEC) != 0) throw IoError(file, "start a process for " + what, errno);
  Fd error_in(error[0]), error_out(error[1]);
  const ChildCoverage coverage;
  const pid_t pid = ::fork();
  if (pid < 0) throw IoError(file, "start a process for " + what, errno);
  if (pid == 0) child_main(what, file, limits, data_out.get(), error_out.get(), coverage, work);
  Child child(pid);
  data_out.reset();
  error_out.reset();

  bool finished = true;
  try {
    PipeIn in(data_in.get());
    read(in);
  } catch (const PipeEnded&) {
    finished = false;
  }
  data_in.reset();  // a child still writing gets EPIPE
  const int status = child.wait();
  coverage.merge();
  if (const auto relayed = receive(error_in.get())) rethrow(*relayed);
  if (finished && WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  throw FormatError(
      file, std::nullopt,
      what + " " + describe(status, finished, limits) +
          " while reading the file (in a separate process); the file is damaged or hostile");
}

}  // namespace cnn::io
