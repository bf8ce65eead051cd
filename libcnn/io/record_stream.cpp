// Record stream writer and reader on raw file descriptors (pipes need EPIPE, not stdio buffers).
#include "io/record_stream.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "io/atomic_file.hpp"
#include "tensor/budget.hpp"
#include "tensor/config.hpp"
#include "tensor/error.hpp"

namespace cnn::io {
namespace {

void put_u32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
std::uint32_t get_u32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(p[i]) << (8 * i);
  return v;
}

constexpr std::size_t kPreamble = 16;  // magic, version, header length
constexpr std::size_t kBufferBytes = 1 << 20;

}  // namespace

const char* dtype_name(RecordDtype d) { return d == RecordDtype::uint8 ? "uint8" : "float32"; }

std::size_t RecordHeader::record_bytes() const {
  return 4 + sample_numel() * (dtype == RecordDtype::uint8 ? 1 : 4);
}

std::string header_json(const RecordHeader& h) {
  json_ordered j;
  j["shape"] = h.shape;
  j["dtype"] = dtype_name(h.dtype);
  j["label"] = "int32";
  j["classes"] = h.classes;
  j["class_mode"] = h.class_mode;
  j["count"] = h.count ? json_ordered(*h.count) : json_ordered();
  if (h.rescale) j["rescale"] = *h.rescale;
  return j.dump();
}

RecordHeader parse_header_json(const std::string& text, const std::string& name,
                               std::uint64_t offset) {
  const json j = parse_json_at(text, name, offset);
  auto bad = [&](const std::string& what) { return FormatError(name, offset, "header: " + what); };
  if (!j.is_object()) throw bad("expected a JSON object");
  RecordHeader h;
  try {
    ConfigReader r(j, name, "", "");
    const json* shape = r.get_raw("shape");
    if (!shape || !shape->is_array() || (shape->size() != 3 && shape->size() != 1))
      throw bad("'shape' must be [height, width, channels] or [features]");
    for (const auto& d : *shape) {
      if (!d.is_number_unsigned() || d.get<std::uint64_t>() == 0 ||
          d.get<std::uint64_t>() > (1u << 20))
        throw bad("'shape' must hold positive integers, got " + json_brief(*shape));
      h.shape.push_back(d.get<std::size_t>());
    }
    if (!checked_numel(h.shape, kMaxSampleValues))
      throw bad("'shape' " + json_brief(*shape) +
                " has more than 2^31 values per sample (the limit; share/limits.md)");
    const std::string dtype = r.get_choice("dtype", std::nullopt, {"uint8", "float32"});
    h.dtype = dtype == "uint8" ? RecordDtype::uint8 : RecordDtype::float32;
    r.get_choice("label", std::nullopt, {"int32"});
    const json* classes = r.get_raw("classes");
    if (!classes || !classes->is_array() || classes->empty())
      throw bad("'classes' must be a non-empty list of class names");
    for (const auto& c : *classes) {
      if (!c.is_string()) throw bad("'classes' must hold strings");
      h.classes.push_back(c.get<std::string>());
    }
    h.class_mode = r.get_choice("class_mode", std::nullopt, {"binary", "categorical", "sparse"});
    if (const json* c = r.get_raw("count"); c && !c->is_null()) {
      if (!c->is_number_unsigned()) throw bad("'count' must be a whole number or null");
      h.count = c->get<std::uint64_t>();
    }
    if (const json* s = r.get_raw("rescale"); s && !s->is_null()) {
      if (!s->is_number() || !(s->get<double>() > 0) || s->get<double>() > 1e12)
        throw bad("'rescale' must be a positive number or null, got " + json_brief(*s));
      h.rescale = s->get<float>();
    }
    r.finish();
  } catch (const ConfigError& e) {
    // The pointer is "/field", or empty for an unknown key "" (substr(1) threw out_of_range).
    const std::string& ptr = e.pointer();
    throw bad(e.problem() + " (field '" + (ptr.empty() ? ptr : ptr.substr(1)) + "')");
  }
  return h;
}

std::int32_t decode_record(const RecordHeader& h, const std::uint8_t* rec, float* out) {
  const auto label = static_cast<std::int32_t>(get_u32(rec));
  const std::size_t n = h.sample_numel();
  const std::uint8_t* p = rec + 4;
  if (h.dtype == RecordDtype::uint8) {
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(p[i]);
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      std::uint32_t bits = get_u32(p + 4 * i);
      std::memcpy(out + i, &bits, 4);
    }
  }
  return label;
}

// ---------------------------------------------------------------- writer

RecordWriter::RecordWriter(int fd, RecordHeader header, std::string name)
    : header_(std::move(header)), fd_(fd), name_(std::move(name)) {
  start();
}

RecordWriter::RecordWriter(const std::string& path, RecordHeader header)
    : header_(std::move(header)) {
  if (path == "-") {
    fd_ = 1;
    name_ = "<stdout>";
  } else {
    path_ = name_ = path;
    std::error_code ec;
    const auto st = std::filesystem::status(path, ec);
    if (std::filesystem::exists(st) && !std::filesystem::is_regular_file(st)) {
      // A device or a named pipe (/dev/null, a FIFO): written directly, never replaced by a
      // rename.
      fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd_ < 0) throw IoError(path, "open", errno);
      own_fd_ = true;
      direct_ = true;
      start();
      return;
    }
    // Through a symbolic link the file it points at is replaced and the link kept (the rule of
    // every output: io::AtomicFile).
    if (std::filesystem::is_symlink(std::filesystem::symlink_status(path, ec))) {
      const auto target = std::filesystem::canonical(path, ec);
      if (!ec) path_ = target.string();
    }
    const auto p = std::filesystem::path(path_);
    tmp_path_ = (p.parent_path() / ("." + p.filename().string() + ".tmp-XXXXXX")).string();
    std::vector<char> tmpl(tmp_path_.begin(), tmp_path_.end());
    tmpl.push_back('\0');
    fd_ = ::mkstemp(tmpl.data());
    if (fd_ < 0) throw IoError(path, "create", errno);
    // mkstemp creates the file 0600; the output follows the umask, as every other output does.
    const mode_t mask = ::umask(0);
    ::umask(mask);
    ::fchmod(fd_, 0666 & ~mask);
    tmp_path_ = tmpl.data();
    own_fd_ = true;
  }
  start();
}

void RecordWriter::start() {
  if (header_.shape.size() != 3 && header_.shape.size() != 1)
    throw DataError(name_, "record shape must be [h, w, c] or [features]");
  buf_.reserve(kBufferBytes + header_.record_bytes());
  const std::string text = header_json(header_);
  std::uint8_t pre[kPreamble];
  std::memcpy(pre, kRecordMagic, 8);
  put_u32(pre + 8, kRecordVersion);
  put_u32(pre + 12, static_cast<std::uint32_t>(text.size()));
  put(pre, kPreamble);
  put(text.data(), text.size());
}

RecordWriter::~RecordWriter() {
  if (own_fd_) {
    ::close(fd_);
    if (!finished_ && !direct_) ::unlink(tmp_path_.c_str());
  }
}

void RecordWriter::put(const void* p, std::size_t n) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  buf_.insert(buf_.end(), b, b + n);
  if (buf_.size() >= kBufferBytes) flush();
}

void RecordWriter::write(std::int32_t label, const float* x) {
  const std::size_t n = header_.sample_numel();
  const std::size_t at = buf_.size();
  buf_.resize(at + header_.record_bytes());
  std::uint8_t* p = buf_.data() + at;
  put_u32(p, static_cast<std::uint32_t>(label));
  p += 4;
  if (header_.dtype == RecordDtype::uint8) {
    for (std::size_t i = 0; i < n; ++i)
      p[i] = static_cast<std::uint8_t>(std::clamp(std::nearbyint(x[i]), 0.0f, 255.0f));
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      std::uint32_t bits;
      std::memcpy(&bits, x + i, 4);
      put_u32(p + 4 * i, bits);
    }
  }
  ++written_;
  if (buf_.size() >= kBufferBytes) flush();
}

void RecordWriter::flush() {
  if (const int err = write_fully(fd_, buf_.data(), buf_.size())) {
    if (err == EPIPE) throw BrokenPipe();
    throw IoError(name_, "write", err);
  }
  buf_.clear();
}

void RecordWriter::finish() {
  if (header_.count && *header_.count != written_)
    throw DataError(name_, "the header promised " + std::to_string(*header_.count) +
                               " records but " + std::to_string(written_) + " were written");
  flush();
  if (own_fd_ && !direct_) {
    if (::fsync(fd_) != 0) throw IoError(path_, "sync", errno);
    if (::rename(tmp_path_.c_str(), path_.c_str()) != 0)
      throw IoError(path_, "rename into place", errno);
  }
  finished_ = true;
}

// ---------------------------------------------------------------- reader

RecordReader::RecordReader(const std::string& path) {
  if (path == "-") {
    fd_ = 0;
    name_ = "<stdin>";
  } else {
    name_ = path;
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) throw InputError(path, "is a directory");
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0)
      throw InputError(path, errno == ENOENT ? "no such file"
                                             : std::string("cannot open: ") + std::strerror(errno));
    own_fd_ = true;
  }
  try {
    read_header();
  } catch (...) {
    close();  // a refused header must not leak the descriptor (no destructor runs)
    throw;
  }
}

void RecordReader::read_header() {
  std::uint8_t pre[kPreamble];
  const std::size_t got = read_some(pre, kPreamble);
  if (got < 8 || std::memcmp(pre, kRecordMagic, 8) != 0)
    throw FormatError(name_, 0,
                      "not a record stream: the first 8 bytes are not the magic "
                      "\"\\x89CNNREC\\n\"");
  if (got < kPreamble) throw FormatError(name_, got, "truncated preamble: expected 16 bytes");
  const std::uint32_t version = get_u32(pre + 8);
  if (version != kRecordVersion)
    throw FormatError(name_, 8,
                      "format version " + std::to_string(version) +
                          (version > kRecordVersion ? " is newer than" : " is not") +
                          " the version this program reads (" + std::to_string(kRecordVersion) +
                          ")");
  const std::uint32_t len = get_u32(pre + 12);
  if (len == 0 || len > kMaxRecordHeader)
    throw FormatError(name_, 12,
                      "header length " + std::to_string(len) + " is not between 1 and " +
                          std::to_string(kMaxRecordHeader));
  std::string text(len, '\0');
  if (read_some(text.data(), len) < len)
    throw FormatError(
        name_, offset_,
        "truncated header: expected " + std::to_string(len) + " bytes of JSON at offset 16");
  header_ = parse_header_json(text, name_, kPreamble);
  data_start_ = offset_;
  // Declared sizes against what there is, before any record is allocated: one record must fit
  // the memory budget, and a regular file must hold exactly the records its header announces.
  const std::size_t rb = header_.record_bytes();
  check_memory(rb, name_ + ": one record of shape " + shape_str(header_.shape));
  struct stat st {};
  const off_t at = ::lseek(fd_, 0, SEEK_CUR);  // stdin redirected from a file may not start at 0
  if (header_.count && ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode) && at >= 0 &&
      st.st_size >= at) {
    // The messages and offsets are those next() would give on reaching the spot.
    const std::uint64_t have = static_cast<std::uint64_t>(st.st_size - at);
    const std::uint64_t whole = have / rb, part = have % rb;
    if (whole < *header_.count && part != 0)
      throw FormatError(name_, data_start_ + whole * rb,
                        "record " + std::to_string(whole) + " is truncated: " +
                            std::to_string(part) + " of " + std::to_string(rb) + " bytes");
    if (whole < *header_.count)
      throw FormatError(name_, data_start_ + have,
                        "the stream ends after " + std::to_string(whole) +
                            " records; the header announces " + std::to_string(*header_.count));
    if (have > *header_.count * rb)  // whole >= count: the product does not overflow
      throw FormatError(
          name_, data_start_ + *header_.count * rb,
          "bytes after the " + std::to_string(*header_.count) + " records the header announces");
  }
}

RecordReader::~RecordReader() { close(); }

void RecordReader::close() {
  if (own_fd_ && fd_ >= 0) ::close(fd_);
  if (fd_ == 0) ::close(0);
  fd_ = -1;
}

std::size_t RecordReader::read_some(void* p, std::size_t n) {
  if (fd_ < 0) return 0;
  int err = 0;
  const std::size_t done = read_fully(fd_, p, n, err);
  if (err) throw InputError(name_, std::string("cannot read: ") + std::strerror(err));
  offset_ += done;
  return done;
}

bool RecordReader::next(std::vector<std::uint8_t>& rec) {
  const std::size_t size = header_.record_bytes();
  rec.resize(size);
  const std::uint64_t start = offset_;
  if (header_.count && records_ == *header_.count) {
    std::uint8_t extra;
    if (read_some(&extra, 1) != 0)
      throw FormatError(
          name_, start,
          "bytes after the " + std::to_string(*header_.count) + " records the header announces");
    return false;
  }
  const std::size_t got = read_some(rec.data(), size);
  if (got == 0) {
    if (header_.count)
      throw FormatError(name_, start,
                        "the stream ends after " + std::to_string(records_) +
                            " records; the header announces " + std::to_string(*header_.count));
    return false;
  }
  if (got < size)
    throw FormatError(name_, start,
                      "record " + std::to_string(records_) + " is truncated: " +
                          std::to_string(got) + " of " + std::to_string(size) + " bytes");
  const auto label = static_cast<std::int32_t>(get_u32(rec.data()));
  if (label < 0 || static_cast<std::size_t>(label) >= header_.classes.size())
    throw FormatError(name_, start,
                      "record " + std::to_string(records_) + " has label " + std::to_string(label) +
                          "; expected 0 to " + std::to_string(header_.classes.size() - 1));
  ++records_;
  return true;
}

}  // namespace cnn::io
