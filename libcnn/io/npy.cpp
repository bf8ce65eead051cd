#include "io/npy.hpp"

#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <optional>

#include "tensor/error.hpp"
#include "tensor/tensor.hpp"

namespace cnn::io {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = 6;

// The header dictionary, a Python literal: {'descr': '<f4', 'fortran_order': False,
// 'shape': (2, 3), }. Only these value kinds occur: strings, True/False, tuples of integers.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, std::size_t base, const std::string& name)
      : s_(text), base_(base), name_(name) {}

  struct Value {
    std::optional<std::string> str;
    std::optional<bool> boolean;
    std::optional<std::vector<std::size_t>> tuple;
  };

  std::map<std::string, Value> parse() {
    std::map<std::string, Value> out;
    skip();
    expect('{');
    skip();
    while (peek() != '}') {
      std::string key = string_literal();
      skip();
      expect(':');
      skip();
      if (out.count(key)) fail("the key '" + key + "' appears twice");
      out[key] = value();
      skip();
      if (peek() == ',') {
        ++i_;
        skip();
      } else if (peek() != '}') {
        fail("expected ',' or '}'");
      }
    }
    ++i_;
    skip();
    if (i_ != s_.size()) fail("unexpected text after the header dictionary");
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError(name_, base_ + i_, "malformed .npy header: " + what);
  }
  char peek() const {
    if (i_ >= s_.size()) fail("the header dictionary ends early");
    return s_[i_];
  }
  void skip() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t')) ++i_;
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++i_;
  }
  std::string string_literal() {
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string");
    ++i_;
    std::string r;
    while (peek() != q) r += s_[i_++];
    ++i_;
    return r;
  }
  Value value() {
    Value v;
    const char c = peek();
    if (c == '\'' || c == '"') {
      v.str = string_literal();
    } else if (s_.compare(i_, 4, "True") == 0) {
      v.boolean = true;
      i_ += 4;
    } else if (s_.compare(i_, 5, "False") == 0) {
      v.boolean = false;
      i_ += 5;
    } else if (c == '(') {
      ++i_;
      std::vector<std::size_t> dims;
      skip();
      while (peek() != ')') {
        if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("expected a dimension");
        std::size_t d = 0;
        while (std::isdigit(static_cast<unsigned char>(peek()))) {
          if (d > (std::numeric_limits<std::size_t>::max() - 9) / 10)
            fail("a dimension is too large");
          d = d * 10 + static_cast<std::size_t>(s_[i_++] - '0');
        }
        while (peek() == 'L') ++i_;  // Python 2 longs
        dims.push_back(d);
        skip();
        if (peek() == ',') {
          ++i_;
          skip();
        } else if (peek() != ')') {
          fail("expected ',' or ')' in the shape");
        }
      }
      ++i_;
      v.tuple = std::move(dims);
    } else {
      fail("expected a string, True, False or a tuple");
    }
    return v;
  }

  const std::string& s_;
  std::size_t base_, i_ = 0;
  const std::string& name_;
};

std::uint16_t rd16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }
std::uint32_t rd32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = (h >> 15) & 1u, exp = (h >> 10) & 0x1fu, frac = h & 0x3ffu;
  float v;
  if (exp == 0)
    v = std::ldexp(static_cast<float>(frac), -24);
  else if (exp == 31)
    v = frac ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  else
    v = std::ldexp(static_cast<float>(frac | 0x400u), static_cast<int>(exp) - 25);
  return sign ? -v : v;
}

// Converts n elements of the described kind ('f', 'i', 'u', 'b'), item size and byte order.
void convert(const std::uint8_t* src, std::size_t n, char kind, std::size_t item, bool big,
             float* dst) {
  std::uint8_t b[8];
  for (std::size_t k = 0; k < n; ++k, src += item) {
    for (std::size_t j = 0; j < item; ++j) b[j] = big ? src[item - 1 - j] : src[j];
    std::uint64_t u = 0;
    for (std::size_t j = 0; j < item; ++j) u |= static_cast<std::uint64_t>(b[j]) << (8 * j);
    float v = 0;
    if (kind == 'f') {
      if (item == 2) {
        v = half_to_float(static_cast<std::uint16_t>(u));
      } else if (item == 4) {
        const std::uint32_t w = static_cast<std::uint32_t>(u);
        std::memcpy(&v, &w, 4);
      } else {
        double d;
        std::memcpy(&d, &u, 8);
        v = static_cast<float>(d);
      }
    } else if (kind == 'i') {
      const unsigned shift = static_cast<unsigned>(64 - 8 * item);
      const auto s = static_cast<std::int64_t>(u << shift) >> shift;
      v = static_cast<float>(s);
    } else {  // 'u', 'b'
      v = static_cast<float>(u);
    }
    dst[k] = v;
  }
}

}  // namespace

NpyArray parse_npy(const std::uint8_t* data, std::size_t size, const std::string& name) {
  if (size < kMagicSize + 2 || std::memcmp(data, kMagic, kMagicSize) != 0)
    throw FormatError(name, 0, "not a .npy file; expected the magic bytes \\x93NUMPY");
  const unsigned major = data[6];
  std::size_t header_len = 0, header_start = 0;
  if (major == 1) {
    if (size < 10) throw FormatError(name, size, "the .npy header is cut off");
    header_len = rd16(data + 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) throw FormatError(name, size, "the .npy header is cut off");
    header_len = rd32(data + 8);
    header_start = 12;
  } else {
    throw FormatError(
        name, 6,
        "unsupported .npy format version " + std::to_string(major) + "; expected 1, 2 or 3");
  }
  if (header_start + header_len > size)
    throw FormatError(name, size,
                      "the .npy header says it is " + std::to_string(header_len) +
                          " bytes long, but the file ends first");
  const std::string text(reinterpret_cast<const char*>(data + header_start), header_len);
  auto dict = HeaderParser(text, header_start, name).parse();
  for (const char* key : {"descr", "fortran_order", "shape"})
    if (!dict.count(key))
      throw FormatError(name, header_start, std::string("the .npy header lacks '") + key + "'");
  if (dict.size() != 3)
    throw FormatError(name, header_start,
                      "the .npy header has keys besides descr, fortran_order and shape");
  const auto& descr = dict["descr"].str;
  if (!descr) throw FormatError(name, header_start, "the .npy header's descr is not a string");
  if (!dict["fortran_order"].boolean)
    throw FormatError(name, header_start, "the .npy header's fortran_order is not True or False");
  if (*dict["fortran_order"].boolean)
    throw FormatError(name, header_start,
                      "Fortran-ordered arrays are not supported; save it with C order "
                      "(numpy.ascontiguousarray)");
  if (!dict["shape"].tuple)
    throw FormatError(name, header_start, "the .npy header's shape is not a tuple");

  NpyArray a;
  a.dtype = *descr;
  a.shape = *dict["shape"].tuple;
  const std::string& d = *descr;
  bool ok = d.size() >= 3 && (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=');
  char kind = ok ? d[1] : '?';
  std::size_t item = 0;
  if (ok) {
    const std::string digits = d.substr(2);
    ok = digits.size() == 1 && std::isdigit(static_cast<unsigned char>(digits[0]));
    if (ok) item = static_cast<std::size_t>(digits[0] - '0');
  }
  ok =
      ok && ((kind == 'f' && (item == 2 || item == 4 || item == 8)) ||
             ((kind == 'i' || kind == 'u') && (item == 1 || item == 2 || item == 4 || item == 8)) ||
             (kind == 'b' && item == 1));
  if (!ok)
    throw FormatError(name, header_start,
                      "unsupported .npy dtype '" + d + "'; expected a float, integer or bool type");
  const bool big = d[0] == '>';

  std::size_t n = 1;
  for (std::size_t dim : a.shape) {
    if (dim != 0 && n > std::numeric_limits<std::size_t>::max() / dim / 8)
      throw FormatError(name, header_start, "the .npy shape is too large");
    n *= dim;
  }
  const std::size_t offset = header_start + header_len;
  const std::size_t need = n * item;
  if (size - offset < need)
    throw FormatError(name, size,
                      "the .npy data is truncated: shape " + shape_str(a.shape) + " needs " +
                          std::to_string(need) + " bytes after the header, the file has " +
                          std::to_string(size - offset));
  if (size - offset > need)
    throw FormatError(name, offset + need,
                      "the .npy file has " + std::to_string(size - offset - need) +
                          " bytes after the data its shape " + shape_str(a.shape) + " needs");
  a.data.resize(n);
  convert(data + offset, n, kind, item, big, a.data.data());
  return a;
}

NpyArray read_npy(const std::string& path) {
  const auto bytes = read_file_bytes(path);
  return parse_npy(bytes.data(), bytes.size(), path);
}

std::string npy_header(const std::vector<std::size_t>& shape) { return npy_header(shape, "<f4"); }

std::string npy_header(const std::vector<std::size_t>& shape, const std::string& descr) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    dict += std::to_string(shape[i]);
    if (shape.size() == 1 || i + 1 < shape.size()) dict += ",";
    if (i + 1 < shape.size()) dict += " ";
  }
  dict += "), }";
  // Version 1.0 unless the header needs more than 65535 bytes; total length a multiple of 64.
  const bool v2 = dict.size() + 1 + 10 > 65535;
  const std::size_t prefix = v2 ? 12 : 10;
  const std::size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  dict.append(total - prefix - dict.size() - 1, ' ');
  dict += '\n';
  std::string out(kMagic, kMagicSize);
  out += static_cast<char>(v2 ? 2 : 1);
  out += '\0';
  const std::size_t len = dict.size();
  out += static_cast<char>(len & 0xff);
  out += static_cast<char>((len >> 8) & 0xff);
  if (v2) {
    out += static_cast<char>((len >> 16) & 0xff);
    out += static_cast<char>((len >> 24) & 0xff);
  }
  return out + dict;
}

namespace {
void write_le_floats(AtomicFile& f, const float* data, std::size_t n) {
  static_assert(sizeof(float) == 4);
  // x86-64 and the other supported targets are little-endian: the floats are the bytes.
  f.write(data, n * sizeof(float));
}
std::size_t numel_of(const std::vector<std::size_t>& shape, std::size_t from) {
  std::size_t n = 1;
  for (std::size_t i = from; i < shape.size(); ++i) n *= shape[i];
  return n;
}
}  // namespace

void write_npy(const std::string& path, const std::vector<std::size_t>& shape, const float* data) {
  write_file_atomically(path, [&](AtomicFile& f) {
    f.write(npy_header(shape));
    write_le_floats(f, data, numel_of(shape, 0));
  });
}

NpyWriter::NpyWriter(const std::string& path, std::vector<std::size_t> shape)
    : file_(path), shape_(std::move(shape)) {
  if (shape_.empty()) throw DataError(path, "a row-wise .npy needs at least one dimension");
  row_numel_ = numel_of(shape_, 1);
  file_.write(npy_header(shape_));
}

void NpyWriter::write_rows(const float* data, std::size_t rows) {
  if (rows_ + rows > shape_[0])
    throw DataError(file_.path(),
                    "more rows written than the .npy shape's " + std::to_string(shape_[0]));
  write_le_floats(file_, data, rows * row_numel_);
  rows_ += rows;
}

void NpyWriter::commit() {
  if (rows_ != shape_[0])
    throw DataError(file_.path(), std::to_string(rows_) + " rows written, the .npy shape says " +
                                      std::to_string(shape_[0]));
  file_.commit();
}

}  // namespace cnn::io
