// IDX reading: gzip detection and inflation (zlib), strict header and size checks.
#include "io/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <limits>

#include "io/atomic_file.hpp"
#include "tensor/budget.hpp"
#include "tensor/error.hpp"
#include "tensor/tensor.hpp"

namespace cnn::io {
namespace {

std::string hex(std::uint64_t v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%0*llX", digits, static_cast<unsigned long long>(v));
  return buf;
}

const char* type_name(std::uint8_t code) {
  switch (static_cast<IdxType>(code)) {
    case IdxType::u8:
      return "unsigned byte";
    case IdxType::i8:
      return "signed byte";
    case IdxType::i16:
      return "int16";
    case IdxType::i32:
      return "int32";
    case IdxType::f32:
      return "float32";
    case IdxType::f64:
      return "float64";
  }
  return nullptr;
}

std::uint32_t load_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

bool is_gzip(const std::vector<std::uint8_t>& bytes, std::size_t at) {
  return bytes.size() >= at + 2 && bytes[at] == 0x1f && bytes[at + 1] == 0x8b;
}

// Ends a zlib inflate stream on scope exit.
struct InflateGuard {
  z_stream* zs;
  ~InflateGuard() { inflateEnd(zs); }
};

// Inflates every gzip member of a file, but never more than limit bytes: with stop_at_limit the
// first limit bytes are returned (to read a header), else more is a FormatError (the header's
// sizes say how much there must be, so a gzip bomb is refused after limit bytes, not after it
// has filled memory). Errors give offsets in the compressed bytes.
std::vector<std::uint8_t> gunzip(const std::vector<std::uint8_t>& in, const std::string& path,
                                 std::size_t limit, bool stop_at_limit) {
  std::vector<std::uint8_t> out;
  // ISIZE (the last 4 bytes, little-endian, modulo 2^32) sizes the first allocation; it is only
  // a hint, capped by deflate's best ratio so a corrupt trailer cannot ask for absurd memory.
  if (in.size() >= 18) {
    const std::size_t n = in.size();
    const std::size_t isize = std::size_t{in[n - 4]} | (std::size_t{in[n - 3]} << 8) |
                              (std::size_t{in[n - 2]} << 16) | (std::size_t{in[n - 1]} << 24);
    out.reserve(std::min({isize, in.size() * 1032, limit}));
  }
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
    throw IoError(path, "decompress", "zlib initialisation failed");
  InflateGuard guard{&zs};
  std::size_t pos = 0;   // next compressed byte
  std::size_t used = 0;  // decompressed bytes so far
  for (;;) {             // one gzip member per pass
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
      if (out.size() - used < 65536)
        out.resize(std::min(used + std::max<std::size_t>(1 << 20, used / 2), limit + 1));
      const std::size_t fed = std::min<std::size_t>(in.size() - pos, UINT_MAX);
      const std::size_t room = std::min<std::size_t>(out.size() - used, UINT_MAX);
      zs.next_in = const_cast<Bytef*>(in.data() + pos);
      zs.avail_in = static_cast<uInt>(fed);
      zs.next_out = out.data() + used;
      zs.avail_out = static_cast<uInt>(room);
      rc = inflate(&zs, Z_NO_FLUSH);
      pos += fed - zs.avail_in;
      used += room - zs.avail_out;
      if (used > limit) {
        if (stop_at_limit) {
          out.resize(limit);
          return out;
        }
        throw FormatError(path, pos,
                          "the gzip data decompresses to more than the " + std::to_string(limit) +
                              " bytes the IDX header's dimensions declare");
      }
      if (rc == Z_BUF_ERROR && pos == in.size())
        throw FormatError(path, in.size(),
                          "truncated gzip stream: the file ends inside a gzip member; expected "
                          "the rest of the compressed data and the gzip trailer");
      if (rc != Z_OK && rc != Z_STREAM_END)
        throw FormatError(path, pos,
                          std::string("corrupt gzip data: ") +
                              (zs.msg ? zs.msg : "zlib error " + std::to_string(rc)));
    }
    if (pos == in.size()) break;
    if (!is_gzip(in, pos))
      throw FormatError(path, pos,
                        std::to_string(in.size() - pos) +
                            " unexpected bytes after the gzip stream; expected the end of the "
                            "file or another gzip member");
    inflateReset(&zs);
  }
  out.resize(used);
  return out;
}

std::string dims_str(const std::vector<std::size_t>& dims) {
  std::string s;
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? " x " : "") + std::to_string(dims[i]);
  return s;
}

}  // namespace

std::size_t IdxArray::item_size() const {
  std::size_t n = 1;
  for (std::size_t i = 1; i < dims.size(); ++i) n *= dims[i];
  return n;
}

namespace {

[[noreturn]] void fail_at(const std::string& path, std::size_t offset, const std::string& problem) {
  throw FormatError(path, offset, problem);
}

// parse_idx, with note appended to every error sentence.
IdxArray parse_idx_noted(const std::uint8_t* data, std::size_t size, const std::string& path,
                         std::optional<std::size_t> expected_ndim, const std::string& note) {
  const auto fail = [&](std::size_t offset, const std::string& problem) {
    fail_at(path, offset, problem + note);
  };
  const std::string want = expected_ndim
                               ? " (" + hex(0x800 + *expected_ndim, 8) + " for unsigned bytes in " +
                                     std::to_string(*expected_ndim) + " dimensions)"
                               : " (0x000008NN: unsigned bytes in NN dimensions)";
  if (size < 4)
    fail(size, "truncated IDX header: the file ends after " + std::to_string(size) +
                   " bytes; expected a 4-byte magic number" + want);
  const std::uint32_t magic = load_be32(data);
  if (data[0] != 0 || data[1] != 0)
    fail(0, "not an IDX file: magic number " + hex(magic, 8) + "; expected " +
                "an IDX magic number" + want);
  const std::uint8_t code = data[2];
  if (code != static_cast<std::uint8_t>(IdxType::u8)) {
    const char* name = type_name(code);
    fail(2, name
                ? "unsupported IDX data type code " + hex(code, 2) + " (" + name +
                      "); expected 0x08 (unsigned byte)"
                : "unknown IDX data type code " + hex(code, 2) + "; expected 0x08 (unsigned byte)");
  }
  const std::size_t ndim = data[3];
  if (ndim == 0)
    fail(3, "IDX file declares 0 dimensions (magic " + hex(magic, 8) + "); expected at least 1" +
                want);
  if (expected_ndim && ndim != *expected_ndim)
    fail(3, "IDX file has " + std::to_string(ndim) + " dimensions (magic " + hex(magic, 8) +
                "); expected " + std::to_string(*expected_ndim) + want);
  const std::size_t header = 4 + 4 * ndim;
  if (size < header)
    fail(size, "truncated IDX header: the file ends at byte " + std::to_string(size) +
                   "; expected " + std::to_string(ndim) + " dimensions up to byte " +
                   std::to_string(header));
  IdxArray a;
  a.dims.resize(ndim);
  std::size_t total = 1;
  for (std::size_t i = 0; i < ndim; ++i) {
    a.dims[i] = load_be32(data + 4 + 4 * i);
    if (a.dims[i] == 0 && i > 0)
      fail(4 + 4 * i, "IDX dimension " + std::to_string(i) + " is 0; expected at least 1");
    if (a.dims[i] != 0 && total > std::numeric_limits<std::size_t>::max() / a.dims[i])
      fail(4 + 4 * i, "IDX dimensions overflow the address space; got " + dims_str(a.dims));
    total *= a.dims[i];
  }
  const std::size_t end = header + total;
  if (size < end)
    fail(size, "truncated IDX data: it ends at byte " + std::to_string(size) +
                   ", but the header's dimensions (" + dims_str(a.dims) + ") need " +
                   std::to_string(total) + " bytes after the " + std::to_string(header) +
                   "-byte header, up to byte " + std::to_string(end) + " (" +
                   std::to_string(end - size) + " bytes missing)");
  if (size > end)
    fail(end, std::to_string(size - end) +
                  " unexpected bytes after the IDX data; expected the file to end at "
                  "byte " +
                  std::to_string(end) + " for dimensions " + dims_str(a.dims));
  a.data.assign(data + header, data + end);
  return a;
}

}  // namespace

IdxArray parse_idx(const std::uint8_t* data, std::size_t size, const std::string& path,
                   std::optional<std::size_t> expected_ndim) {
  return parse_idx_noted(data, size, path, expected_ndim, "");
}

IdxArray read_idx(const std::string& path, std::optional<std::size_t> expected_ndim) {
  std::vector<std::uint8_t> bytes = read_regular_file_bytes(path);
  if (!is_gzip(bytes, 0)) return parse_idx(bytes.data(), bytes.size(), path, expected_ndim);
  // The header first (at most 4 + 4 * 255 bytes), then the whole file, bounded by the size the
  // header declares, which must fit the memory budget.
  const std::vector<std::uint8_t> head = gunzip(bytes, path, 1024 + 4, true);
  const std::string note = " (offsets count decompressed bytes)";
  const std::size_t ndim = head.size() >= 4 ? head[3] : 0;
  std::optional<std::size_t> total;
  if (head.size() >= 4 + 4 * ndim && ndim > 0 && head[0] == 0 && head[1] == 0) {
    Shape dims(ndim);
    for (std::size_t i = 0; i < ndim; ++i) dims[i] = load_be32(head.data() + 4 + 4 * i);
    total = checked_numel(dims, std::numeric_limits<std::size_t>::max() - 4 - 4 * ndim);
  }
  // A header that is not valid (or a file shorter than the header): its own error.
  if (!total) return parse_idx_noted(head.data(), head.size(), path, expected_ndim, note);
  const std::size_t declared = 4 + 4 * ndim + *total;
  check_memory(declared, path + ": the decompressed IDX data its header declares");
  const std::vector<std::uint8_t> raw = gunzip(bytes, path, declared, false);
  return parse_idx_noted(raw.data(), raw.size(), path, expected_ndim, note);
}

IdxPair read_idx_pair(const std::string& images_path, const std::string& labels_path,
                      std::optional<std::size_t> num_classes) {
  IdxPair p;
  p.images_path = images_path;
  p.labels_path = labels_path;
  p.images = read_idx(images_path);
  if (p.images.dims.size() != 3 && p.images.dims.size() != 4)
    throw FormatError(images_path, 3,
                      "IDX images have " + std::to_string(p.images.dims.size()) +
                          " dimensions; expected 3 (magic 0x00000803: n, rows, columns) or 4 "
                          "(0x00000804: n, rows, columns, channels)");
  p.labels = read_idx(labels_path, 1);
  if (p.labels.count() != p.images.count())
    throw DataError(labels_path, "has " + std::to_string(p.labels.count()) + " labels but " +
                                     images_path + " has " + std::to_string(p.images.count()) +
                                     " images; expected one label per image");
  if (num_classes) {
    for (std::size_t i = 0; i < p.labels.data.size(); ++i) {
      if (p.labels.data[i] >= *num_classes)
        throw DataError(labels_path, "label " + std::to_string(p.labels.data[i]) + " of sample " +
                                         std::to_string(i) + " (byte " + std::to_string(8 + i) +
                                         ") is out of range; expected 0.." +
                                         std::to_string(*num_classes - 1));
    }
  }
  return p;
}

}  // namespace cnn::io
