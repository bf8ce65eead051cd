// Files in and out: outputs are written to a temporary file in the destination's directory and
// renamed into place (so a failed run never leaves a half-written output), inputs are read with
// errors that say which file and why (missing, a directory, no permission).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace cnn::io {

// An output file written atomically. The constructor creates "<path>.tmp.<pid>.<counter>" next
// to path (same directory, so the final rename cannot cross file systems); write() appends to
// it; commit() flushes it to disk (fsync), renames it over path and fsyncs the directory so the
// rename itself survives a crash. Until commit() succeeds, path is untouched: if anything
// throws, or the object is destroyed without commit(), the temporary file is removed.
// Every failure throws IoError naming the path, the operation and strerror.
//
// A run killed by a signal can leave a "<path>.tmp.*" file behind; path itself stays intact.
// If path is a symbolic link, the file it points at is replaced and the link kept. If path
// exists and is not a regular file (/dev/stdout, /dev/null, a FIFO), it is written in place,
// never replaced (one rule for every output of the programs).
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }
  // Bytes written so far.
  std::uint64_t size() const { return size_; }

  void write(const void* data, std::size_t n);
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }

  // Makes the content the new path. After a successful commit, writes throw. If the directory
  // fsync after the rename fails, IoError is thrown although path already holds the new content.
  void commit();

 private:
  void discard() noexcept;

  std::string path_, temp_path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  bool committed_ = false;
};

// Writes path atomically: writer fills the file, then it is committed. If writer throws, the
// exception propagates and path is left as it was.
void write_file_atomically(const std::string& path, const std::function<void(AtomicFile&)>& writer);
void write_file_atomically(const std::string& path, std::string_view bytes);

// The whole content of an input file (a regular file or a pipe). Throws InputError "no such
// file", "is a directory", "permission denied" or "cannot read: <strerror>".
std::string read_file(const std::string& path);

// The same as bytes (binary readers: IDX, images).
std::vector<std::uint8_t> read_file_bytes(const std::string& path);
// The same for dataset entries (IDX files, images): InputError "is not a regular file" for a
// FIFO or a device, which would hang (a FIFO nobody writes) or never end (/dev/zero).
std::vector<std::uint8_t> read_regular_file_bytes(const std::string& path);

// Writes all n bytes to fd, retrying interrupted and partial writes; returns 0, or the errno of
// the write that failed (the callers say what it was writing).
int write_fully(int fd, const void* data, std::size_t n);
// Reads into data until it holds n bytes or the input ends, retrying interrupted and short reads;
// returns the bytes read, and sets err to the errno of a read that failed (else 0).
std::size_t read_fully(int fd, void* data, std::size_t n, int& err);

// Whether name, read from a file or a flag, is one plain entry of a folder: not empty, not "."
// or "..", without '/' or NUL. Names that pass cannot lead outside the folder they are joined
// to (a class named "../../etc" or "/root" does not).
bool is_plain_name(const std::string& name);

// An input file opened for random-access reads, for formats that check a header before reading
// (and allocating) the rest. Only regular files: the size must be known up front.
class InputFile {
 public:
  // Throws InputError like read_file, and "is not a regular file" for pipes and devices (opened
  // without waiting for a writer).
  explicit InputFile(std::string path);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& path() const { return path_; }
  std::uint64_t size() const { return size_; }
  // Reads exactly n bytes starting at offset. Throws InputError if the file ends early (it
  // shrank since it was opened) or the read fails.
  void read_at(std::uint64_t offset, void* dst, std::size_t n) const;

 private:
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// Checks, before long work, that files can be created in dir: creates a probe file there and
// removes it again. Throws IoError naming dir if it is missing, not a directory or not writable.
void check_writable_directory(const std::string& dir);

}  // namespace cnn::io
