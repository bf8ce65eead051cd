// Atomic output files (temp file + fsync + rename + directory fsync) and checked input reads,
// on POSIX file descriptors so every failure has an errno to report.
#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "tensor/error.hpp"

namespace cnn::io {
namespace {

// Distinguishes temporary and probe files of one process (several writers may be open at once).
std::atomic<unsigned long> g_counter{0};

std::string unique_suffix() {
  return std::to_string(static_cast<long>(::getpid())) + "." + std::to_string(g_counter++);
}

// The directory holding path ("." for a bare file name), for the fsync after a rename.
std::string parent_dir(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// Opens an input file for reading and fstat's it; errors are InputError in plain words.
// extra_flags: O_NONBLOCK where only a regular file will do (opening a FIFO would wait for a
// writer; a regular file's reads ignore the flag).
int open_input(const std::string& path, struct stat& st, int extra_flags = 0) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | extra_flags);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) throw InputError(path, "no such file");
    if (err == ENOTDIR) throw InputError(path, "no such file (a parent is not a directory)");
    if (err == EACCES || err == EPERM) throw InputError(path, "permission denied");
    if (err == EISDIR) throw InputError(path, "is a directory");
    throw InputError(path, std::string("cannot open: ") + std::strerror(err));
  }
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw InputError(path, std::string("cannot stat: ") + std::strerror(err));
  }
  // On Linux, open(O_RDONLY) succeeds on a directory; only read() would fail (EISDIR).
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw InputError(path, "is a directory");
  }
  return fd;
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  // One rule for every output. A new name or a regular file is replaced atomically (a temporary
  // file renamed over it); through a symbolic link, the file it points at is replaced and the
  // link kept. Anything else that exists (a device such as /dev/stdout or /dev/null, a FIFO) is
  // written in place and never replaced: renaming over it would, as root, replace the device.
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0) {
    // (A directory falls through: the rename over it fails, and nothing is left behind.)
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
      do {
        fd_ = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
      } while (fd_ < 0 && errno == EINTR);
      if (fd_ < 0) throw IoError(path_, "open", errno);
      return;  // temp_path_ stays empty: written in place
    }
    struct stat lst {};
    if (::lstat(path_.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
      std::error_code ec;
      const auto target = std::filesystem::canonical(path_, ec);
      if (!ec) path_ = target.string();
    }
  }
  temp_path_ = path_ + ".tmp." + unique_suffix();
  // O_EXCL: never reuse (and so never clobber) an existing file, e.g. a stale temp of a
  // process that had the same pid.
  do {
    fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  } while (fd_ < 0 && errno == EINTR);
  if (fd_ < 0) throw IoError(path_, "create temporary file " + quote(temp_path_), errno);
}

AtomicFile::~AtomicFile() { discard(); }

void AtomicFile::discard() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
}

void AtomicFile::write(const void* data, std::size_t n) {
  if (fd_ < 0) throw IoError(path_, "write", committed_ ? "already committed" : "file is closed");
  if (const int err = write_fully(fd_, data, n)) {
    discard();
    throw IoError(path_, "write temporary file " + quote(temp_path_), err);
  }
  size_ += n;
}

void AtomicFile::commit() {
  if (fd_ < 0) throw IoError(path_, "commit", committed_ ? "already committed" : "file is closed");
  if (temp_path_.empty()) {  // a device or FIFO, written in place: done once closed
    const int close_result = ::close(fd_);
    const int close_err = errno;
    fd_ = -1;
    if (close_result != 0) throw IoError(path_, "close", close_err);
    committed_ = true;
    return;
  }
  if (::fsync(fd_) != 0) {
    const int err = errno;
    discard();
    throw IoError(path_, "sync temporary file " + quote(temp_path_), err);
  }
  // close() can report a deferred write error (NFS); the data is not safe if it does.
  const int close_result = ::close(fd_);
  const int close_err = errno;
  fd_ = -1;
  if (close_result != 0) {
    discard();
    throw IoError(path_, "close temporary file " + quote(temp_path_), close_err);
  }
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    discard();
    throw IoError(path_, "rename " + quote(temp_path_) + " to it", err);
  }
  committed_ = true;

  // Without a directory fsync the rename may be lost in a crash, leaving the old file.
  const std::string dir = parent_dir(path_);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) throw IoError(dir, "open directory to sync it", errno);
  const int sync_result = ::fsync(dfd);
  const int sync_err = errno;
  ::close(dfd);
  // EINVAL: the file system does not support syncing directories; nothing more can be done.
  if (sync_result != 0 && sync_err != EINVAL) throw IoError(dir, "sync directory", sync_err);
}

void write_file_atomically(const std::string& path,
                           const std::function<void(AtomicFile&)>& writer) {
  AtomicFile file(path);
  writer(file);
  file.commit();
}

void write_file_atomically(const std::string& path, std::string_view bytes) {
  write_file_atomically(path, [&](AtomicFile& f) { f.write(bytes); });
}

namespace {

template <class Bytes>
Bytes read_whole(const std::string& path, bool regular_only = false) {
  struct stat st {};
  // Checked before opening: opening a FIFO for reading blocks until someone writes to it.
  if (regular_only && ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) &&
      !S_ISDIR(st.st_mode))
    throw InputError(path,
                     "is not a regular file (a FIFO or a device would hang or never end); "
                     "datasets read regular files only");
  const int fd = open_input(path, st);
  if (regular_only && !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw InputError(path,
                     "is not a regular file (a FIFO or a device would hang or never end); "
                     "datasets read regular files only");
  }
  Bytes out;
  if (S_ISREG(st.st_mode)) out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[1 << 16];
  for (std::size_t got = sizeof buf; got == sizeof buf;) {  // a short read: the end
    int err = 0;
    got = read_fully(fd, buf, sizeof buf, err);
    if (err) {
      ::close(fd);
      throw InputError(path, std::string("cannot read: ") + std::strerror(err));
    }
    out.insert(out.end(), buf, buf + got);
  }
  ::close(fd);
  return out;
}

}  // namespace

int write_fully(int fd, const void* data, std::size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t k = ::write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return errno;
    if (k == 0) return EIO;  // no progress: would loop forever
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return 0;
}

std::size_t read_fully(int fd, void* data, std::size_t n, int& err) {
  char* p = static_cast<char*>(data);
  std::size_t done = 0;
  err = 0;
  while (done < n) {
    const ssize_t k = ::read(fd, p + done, n - done);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) {
      err = errno;
      break;
    }
    if (k == 0) break;
    done += static_cast<std::size_t>(k);
  }
  return done;
}

bool is_plain_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find_first_of(std::string("/\0", 2)) == std::string::npos;
}

std::string read_file(const std::string& path) { return read_whole<std::string>(path); }

std::vector<std::uint8_t> read_file_bytes(const std::string& path) {
  return read_whole<std::vector<std::uint8_t>>(path);
}

std::vector<std::uint8_t> read_regular_file_bytes(const std::string& path) {
  return read_whole<std::vector<std::uint8_t>>(path, true);
}

InputFile::InputFile(std::string path) : path_(std::move(path)) {
  struct stat st {};
  fd_ = open_input(path_, st, O_NONBLOCK);
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    throw InputError(path_, "is not a regular file (a FIFO or a device would hang or never end)");
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

void InputFile::read_at(std::uint64_t offset, void* dst, std::size_t n) const {
  char* p = static_cast<char*>(dst);
  while (n > 0) {
    const ssize_t k = ::pread(fd_, p, n, static_cast<off_t>(offset));
    if (k < 0) {
      if (errno == EINTR) continue;
      throw InputError(
          path_, "cannot read at byte " + std::to_string(offset) + ": " + std::strerror(errno));
    }
    if (k == 0) {
      throw InputError(path_, "unexpected end of file at byte " + std::to_string(offset) +
                                  " (the file changed while it was read)");
    }
    p += k;
    n -= static_cast<std::size_t>(k);
    offset += static_cast<std::uint64_t>(k);
  }
}

void check_writable_directory(const std::string& dir) {
  const std::string d = dir.empty() ? std::string(".") : dir;
  const std::string probe =
      (std::filesystem::path(d) / (".cnn-write-probe." + unique_suffix())).string();
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw IoError(d, "create files in the directory", errno);
  ::close(fd);
  if (::unlink(probe.c_str()) != 0) throw IoError(probe, "remove write probe", errno);
}

}  // namespace cnn::io
