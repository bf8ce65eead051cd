#include "io/dir_lock.hpp"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <string>

#include "tensor/error.hpp"
#include "tensor/text.hpp"

namespace cnn::io {

namespace {

std::string holder_line() {
  char host[256] = "";
  ::gethostname(host, sizeof host - 1);
  char when[64] = "";
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return std::string(program_invocation_short_name) + " (pid " + std::to_string(::getpid()) +
         " on " + host + ", since " + when + ")";
}

}  // namespace

DirLock::DirLock(const std::string& dir) {
  const std::string path = dir + "/" + kName;
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
  if (fd_ < 0) throw IoError(path, "create the lock file", errno);
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::string who;
    if (err == EWOULDBLOCK) {
      char buf[512];
      const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
      if (n > 0) who.assign(buf, static_cast<std::size_t>(n));
      while (!who.empty() && (who.back() == '\n' || who.back() == '\0')) who.pop_back();
      who = printable(who);
    }
    ::close(fd_);
    fd_ = -1;
    if (err != EWOULDBLOCK) throw IoError(path, "lock", err);
    throw Error(dir + ": the run directory is in use by " +
                (who.empty() ? "another process" : who) +
                "; wait for it to end or choose another output directory");
  }
  const std::string line = holder_line() + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, line.data(), line.size(), 0) < 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw IoError(path, "write the lock file", err);
  }
}

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

}  // namespace cnn::io
