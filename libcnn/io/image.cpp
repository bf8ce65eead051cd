// Image decoding (TurboJPEG, libpng's png_image API, small BMP and PNM readers), encoding,
// colour conversion and PIL-compatible resizing.
#include "io/image.hpp"

#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <regex>

#include "io/atomic_file.hpp"
#include "tensor/budget.hpp"
#include "tensor/error.hpp"

namespace cnn::io {
namespace {

// PIL refuses images above twice its MAX_IMAGE_PIXELS (a decompression-bomb guard); so do we,
// before allocating anything a header asks for.
constexpr std::size_t kMaxPixels = 2 * 89478485ULL;

// ---- TurboJPEG handles: one per thread, so decoding in worker threads needs no locks. ----

struct TjHandle {
  tjhandle h = nullptr;
  ~TjHandle() {
    if (h) tjDestroy(h);
  }
};

TjHandle& tj_decompressor_slot() {
  thread_local TjHandle t;
  return t;
}

tjhandle tj_decompressor() {
  TjHandle& t = tj_decompressor_slot();
  if (!t.h) {
    t.h = tjInitDecompress();
    if (!t.h) throw IoError("TurboJPEG", "initialise a decompressor", tjGetErrorStr2(nullptr));
  }
  return t.h;
}

// After a failed call a handle keeps the failed file's state (with libjpeg-turbo 2.1, every later
// header read of the thread then failed with the same message: one corrupt photo made all the
// following ones unreadable). A failure therefore discards the handle; the next call makes a new
// one.
void tj_discard_decompressor() {
  TjHandle& t = tj_decompressor_slot();
  if (t.h) tjDestroy(t.h);
  t.h = nullptr;
}

tjhandle tj_compressor() {
  thread_local TjHandle t;
  if (!t.h) {
    t.h = tjInitCompress();
    if (!t.h) throw IoError("TurboJPEG", "initialise a compressor", tjGetErrorStr2(nullptr));
  }
  return t.h;
}

void check_pixels(std::size_t h, std::size_t w, const std::string& name, const char* format) {
  if (h == 0 || w == 0)
    throw DataError(name, std::string(format) + " image has size " + std::to_string(w) + "x" +
                              std::to_string(h) + "; expected at least 1x1");
  if (h > kMaxPixels / w)
    throw DataError(name, std::string(format) + " image is " + std::to_string(w) + "x" +
                              std::to_string(h) + " pixels; expected at most " +
                              std::to_string(kMaxPixels) + " pixels (decompression-bomb limit)");
  // Decoding holds up to four 8-bit channels per pixel (below kMaxPixels: no overflow). Every
  // image of a dataset passes here: the name is built only for a refusal.
  check_memory_lazily(h * w * 4, [&] {
    return name + ": a " + std::to_string(w) + "x" + std::to_string(h) + " " + format + " image";
  });
}

// ---- JPEG ----

// libjpeg warnings that leave the pixels intact: bytes skipped between segments, a bad ICC
// marker (the profile is not used), an unknown JFIF revision or Adobe transform code. Every other
// warning means pixels that libjpeg made up (gray or garbage): the file is refused.
bool harmless_jpeg_warning(const std::string& msg) {
  static const std::regex harmless(
      "Corrupt JPEG data: [0-9]+ extraneous bytes before marker 0x[0-9a-f]+|"
      "Corrupt JPEG data: bad ICC marker|Unknown Adobe color transform code -?[0-9]+|"
      "Warning: unknown JFIF revision number [0-9.]+");
  return std::regex_match(msg, harmless);
}

ImageInfo probe_jpeg(const std::uint8_t* data, std::size_t size, const std::string& name) {
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  tjhandle tj = tj_decompressor();
  if (tjDecompressHeader3(tj, data, static_cast<unsigned long>(size), &w, &h, &subsamp,
                          &colorspace) != 0) {
    const std::string msg = tjGetErrorStr2(tj);
    const bool warning = tjGetErrorCode(tj) == TJERR_WARNING;
    tj_discard_decompressor();
    // A harmless warning (bytes between two header segments) leaves a valid header.
    if (!warning || !harmless_jpeg_warning(msg) || w <= 0 || h <= 0)
      throw DataError(name, "not a valid JPEG header: " + msg);
  }
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK)
    throw DataError(name,
                    "CMYK JPEG images are not supported; expected grayscale or colour "
                    "(YCbCr/RGB)");
  ImageInfo info{ImageFormat::jpeg, static_cast<std::size_t>(h), static_cast<std::size_t>(w),
                 colorspace == TJCS_GRAY ? std::size_t{1} : std::size_t{3}};
  check_pixels(info.h, info.w, name, "JPEG");
  return info;
}

Image decode_jpeg(const std::uint8_t* data, std::size_t size, const std::string& name) {
  const ImageInfo info = probe_jpeg(data, size, name);
  Image img(info.h, info.w, info.c);
  tjhandle tj = tj_decompressor();
  // Default flags: accurate integer DCT and fancy upsampling, as PIL's libjpeg decode.
  // TJFLAG_LIMITSCANS refuses progressive files with absurd scan counts (a known DoS).
  const int rc = tjDecompress2(tj, data, static_cast<unsigned long>(size), img.data.data(),
                               static_cast<int>(info.w), 0, static_cast<int>(info.h),
                               info.c == 1 ? TJPF_GRAY : TJPF_RGB, TJFLAG_LIMITSCANS);
  if (rc != 0) {
    // TurboJPEG keeps one message: the fatal error's if there was one, else the first warning's;
    // and once a warning was seen it reports TJERR_WARNING even when a fatal error followed.
    // So the message decides. libjpeg fills what it could not decode with gray and only warns:
    // a truncated file (PIL raises "image file is truncated" there, and so do we) and corrupt
    // entropy-coded data (bad Huffman codes, a segment cut short by garbage) would otherwise
    // pass as good images. Only harmless_jpeg_warning()s are accepted.
    const std::string msg = tjGetErrorStr2(tj);
    const bool fatal = tjGetErrorCode(tj) == TJERR_FATAL;
    tj_discard_decompressor();
    if (msg.find("Premature end") != std::string::npos)
      throw DataError(name, "truncated JPEG file: " + msg);
    if (fatal || !harmless_jpeg_warning(msg)) {
      const std::string prefix = "Corrupt JPEG data: ";
      throw DataError(name, "corrupt JPEG data: " +
                                (msg.rfind(prefix, 0) == 0 ? msg.substr(prefix.size()) : msg));
    }
  }
  return img;
}

// ---- PNG (the simplified png_image API: errors come back as messages, never longjmp here) ----

constexpr std::uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

// Frees a png_image's internal state on scope exit.
struct PngGuard {
  png_image* img;
  ~PngGuard() { png_image_free(img); }
};

ImageInfo png_begin(png_image& png, const std::uint8_t* data, std::size_t size,
                    const std::string& name) {
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&png, data, size))
    throw DataError(name, std::string("not a valid PNG header: ") + png.message);
  ImageInfo info{ImageFormat::png, png.height, png.width,
                 (png.format & PNG_FORMAT_FLAG_COLOR) ? std::size_t{3} : std::size_t{1}};
  check_pixels(info.h, info.w, name, "PNG");
  return info;
}

ImageInfo probe_png(const std::uint8_t* data, std::size_t size, const std::string& name) {
  png_image png;
  const ImageInfo info = png_begin(png, data, size, name);
  png_image_free(&png);
  return info;
}

Image decode_png(const std::uint8_t* data, std::size_t size, const std::string& name) {
  png_image png;
  const ImageInfo info = png_begin(png, data, size, name);
  PngGuard guard{&png};
  // 8-bit gray, gray+alpha, RGB or RGBA as stored (palettes expanded). 16-bit samples are taken
  // as sRGB-encoded and reduced to 8 bits, as PIL does, instead of libpng's linear default.
  const bool alpha = (png.format & PNG_FORMAT_FLAG_ALPHA) != 0;
  png.format = (png.format & (PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA));
  png.flags |= PNG_IMAGE_FLAG_16BIT_sRGB;
  Image raw(info.h, info.w, info.c + (alpha ? 1 : 0));
  if (!png_image_finish_read(&png, nullptr, raw.data.data(), 0, nullptr))
    throw DataError(name, std::string("corrupt or truncated PNG data: ") + png.message);
  if (!alpha) return raw;
  return info.c == 1 ? to_grayscale(raw) : to_rgb(raw);  // drop alpha
}

// ---- BMP (uncompressed, or bit fields) ----

std::uint32_t le16(const std::uint8_t* p) {
  return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8);
}
std::uint32_t le32(const std::uint8_t* p) { return le16(p) | (le16(p + 2) << 16); }

struct BmpHeader {
  std::size_t w = 0, h = 0;
  bool top_down = false;
  std::size_t bpp = 0;
  std::size_t pixel_offset = 0, stride = 0;
  std::size_t palette_offset = 0, palette_entries = 0, palette_entry_size = 4;
  std::uint32_t masks[3] = {0, 0, 0};  // red, green, blue for 16/32-bit
};

BmpHeader parse_bmp(const std::uint8_t* d, std::size_t size, const std::string& name) {
  const auto fail = [&](const std::string& why) { throw DataError(name, "BMP " + why); };
  if (size < 26) fail("header is truncated; expected at least 26 bytes");
  BmpHeader b;
  b.pixel_offset = le32(d + 10);
  const std::size_t dib = le32(d + 14);
  std::uint32_t compression = 0;
  long long width = 0, height = 0;
  if (dib == 12) {  // BITMAPCOREHEADER
    width = le16(d + 18);
    height = static_cast<std::int16_t>(le16(d + 20));
    b.bpp = le16(d + 24);
    b.palette_entry_size = 3;
  } else if (dib >= 40) {
    if (size < 14 + 40) fail("header is truncated; expected a 40-byte info header");
    width = static_cast<std::int32_t>(le32(d + 18));
    height = static_cast<std::int32_t>(le32(d + 22));
    b.bpp = le16(d + 28);
    compression = le32(d + 30);
    b.palette_entries = le32(d + 46);
  } else {
    fail("info header size " + std::to_string(dib) + " is not supported; expected 12 or >= 40");
  }
  if (width <= 0 || height == 0)
    fail("size " + std::to_string(width) + "x" + std::to_string(height) + " is not valid");
  b.w = static_cast<std::size_t>(width);
  b.top_down = height < 0;
  b.h = static_cast<std::size_t>(height < 0 ? -height : height);
  check_pixels(b.h, b.w, name, "BMP");
  const bool bitfields = compression == 3;
  if (compression != 0 && !bitfields)
    fail("compression " + std::to_string(compression) +
         " is not supported; expected 0 (uncompressed) or 3 (bit fields)");
  if (bitfields && b.bpp != 16 && b.bpp != 32) fail("bit fields need 16 or 32 bits per pixel");
  if (b.bpp != 1 && b.bpp != 4 && b.bpp != 8 && b.bpp != 16 && b.bpp != 24 && b.bpp != 32)
    fail(std::to_string(b.bpp) +
         " bits per pixel is not supported; expected 1, 4, 8, 16, 24 or 32");
  if (b.bpp <= 8) {
    b.palette_offset = 14 + dib;
    if (b.palette_entries == 0 || b.palette_entries > (std::size_t{1} << b.bpp))
      b.palette_entries = std::size_t{1} << b.bpp;
    if (b.palette_offset + b.palette_entries * b.palette_entry_size > size)
      fail("palette is truncated");
  } else if (bitfields) {
    if (size < 14 + 40 + 12) fail("bit-field masks are truncated");
    for (std::size_t i = 0; i < 3; ++i) b.masks[i] = le32(d + 54 + 4 * i);
  } else if (b.bpp == 16) {
    b.masks[0] = 0x7C00;
    b.masks[1] = 0x03E0;
    b.masks[2] = 0x001F;
  } else if (b.bpp == 32) {
    b.masks[0] = 0x00FF0000;
    b.masks[1] = 0x0000FF00;
    b.masks[2] = 0x000000FF;
  }
  b.stride = (b.bpp * b.w + 31) / 32 * 4;
  return b;
}

// The 8-bit value of a bit field: the masked bits scaled to 0..255.
std::uint8_t bitfield(std::uint32_t px, std::uint32_t mask) {
  if (mask == 0) return 0;
  int shift = 0;
  while (!((mask >> shift) & 1u)) ++shift;
  const std::uint32_t max = mask >> shift;
  const std::uint32_t v = (px & mask) >> shift;
  return static_cast<std::uint8_t>((v * 255 + max / 2) / max);
}

Image decode_bmp(const std::uint8_t* d, std::size_t size, const std::string& name) {
  const BmpHeader b = parse_bmp(d, size, name);
  if (b.pixel_offset > size || b.stride * b.h > size - b.pixel_offset)
    throw DataError(name, "BMP pixel data is truncated: the file has " + std::to_string(size) +
                              " bytes; expected " +
                              std::to_string(b.pixel_offset + b.stride * b.h));
  Image img(b.h, b.w, 3);
  for (std::size_t y = 0; y < b.h; ++y) {
    const std::uint8_t* row = d + b.pixel_offset + (b.top_down ? y : b.h - 1 - y) * b.stride;
    std::uint8_t* out = img.data.data() + y * b.w * 3;
    for (std::size_t x = 0; x < b.w; ++x, out += 3) {
      if (b.bpp <= 8) {
        const std::size_t bit = x * b.bpp;
        const std::size_t index = (row[bit / 8] >> (8 - b.bpp - bit % 8)) & ((1u << b.bpp) - 1u);
        if (index >= b.palette_entries)
          throw DataError(name, "BMP palette index " + std::to_string(index) +
                                    " is out of range; expected < " +
                                    std::to_string(b.palette_entries));
        const std::uint8_t* e = d + b.palette_offset + index * b.palette_entry_size;
        out[0] = e[2];  // palette entries are B, G, R(, reserved)
        out[1] = e[1];
        out[2] = e[0];
      } else if (b.bpp == 24) {
        out[0] = row[3 * x + 2];
        out[1] = row[3 * x + 1];
        out[2] = row[3 * x];
      } else {
        const std::uint32_t px = b.bpp == 16 ? le16(row + 2 * x) : le32(row + 4 * x);
        for (std::size_t ch = 0; ch < 3; ++ch) out[ch] = bitfield(px, b.masks[ch]);
      }
    }
  }
  return img;
}

// ---- PNM (binary P5 gray / P6 colour) ----

struct PnmHeader {
  std::size_t w = 0, h = 0, c = 0, maxval = 0, data_offset = 0;
};

PnmHeader parse_pnm(const std::uint8_t* d, std::size_t size, const std::string& name) {
  PnmHeader p;
  p.c = d[1] == '5' ? 1 : 3;
  std::size_t pos = 2;
  std::size_t fields[3] = {0, 0, 0};
  for (std::size_t i = 0; i < 3; ++i) {
    // Whitespace and # comments separate the fields.
    for (;;) {
      if (pos >= size) throw DataError(name, "PNM header is truncated");
      if (d[pos] == '#') {
        while (pos < size && d[pos] != '\n') ++pos;
      } else if (std::isspace(d[pos])) {
        ++pos;
      } else {
        break;
      }
    }
    if (!std::isdigit(d[pos]))
      throw DataError(name, "PNM header field is not a number at byte " + std::to_string(pos));
    std::size_t v = 0;
    while (pos < size && std::isdigit(d[pos])) {
      v = v * 10 + static_cast<std::size_t>(d[pos++] - '0');
      if (v > 1000000000) throw DataError(name, "PNM header number is too large");
    }
    fields[i] = v;
  }
  if (pos >= size || !std::isspace(d[pos])) throw DataError(name, "PNM header is truncated");
  p.data_offset = pos + 1;  // exactly one whitespace byte before the samples
  p.w = fields[0];
  p.h = fields[1];
  p.maxval = fields[2];
  check_pixels(p.h, p.w, name, "PNM");
  if (p.maxval == 0 || p.maxval > 255)
    throw DataError(name, "PNM maxval " + std::to_string(p.maxval) +
                              " is not supported; expected 1..255 (8-bit samples)");
  return p;
}

Image decode_pnm(const std::uint8_t* d, std::size_t size, const std::string& name) {
  const PnmHeader p = parse_pnm(d, size, name);
  const std::size_t n = p.h * p.w * p.c;
  if (size - p.data_offset < n)
    throw DataError(name, "PNM pixel data is truncated: the file has " + std::to_string(size) +
                              " bytes; expected " + std::to_string(p.data_offset + n));
  Image img(p.h, p.w, p.c);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t v = d[p.data_offset + i];
    if (v > p.maxval)
      throw DataError(
          name, "PNM sample " + std::to_string(v) + " exceeds maxval " + std::to_string(p.maxval));
    img.data[i] =
        static_cast<std::uint8_t>(p.maxval == 255 ? v : (v * 255 + p.maxval / 2) / p.maxval);
  }
  return img;
}

[[noreturn]] void unsupported(ImageFormat f, const std::string& name) {
  if (f == ImageFormat::unknown)
    throw DataError(name,
                    "not an image: the first bytes match no supported format; expected "
                    "JPEG, PNG, BMP or PNM (P5/P6)");
  throw DataError(name, std::string(format_name(f)) +
                            " images are not supported; expected JPEG, PNG, BMP or PNM (P5/P6)");
}

}  // namespace

const char* format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::jpeg:
      return "JPEG";
    case ImageFormat::png:
      return "PNG";
    case ImageFormat::bmp:
      return "BMP";
    case ImageFormat::pnm:
      return "PNM";
    case ImageFormat::gif:
      return "GIF";
    case ImageFormat::tiff:
      return "TIFF";
    case ImageFormat::webp:
      return "WebP";
    case ImageFormat::unknown:
      break;
  }
  return "unknown";
}

ImageFormat detect_format(const std::uint8_t* d, std::size_t size) {
  if (size >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return ImageFormat::jpeg;
  if (size >= 8 && std::memcmp(d, kPngSignature, 8) == 0) return ImageFormat::png;
  if (size >= 2 && d[0] == 'B' && d[1] == 'M') return ImageFormat::bmp;
  if (size >= 3 && d[0] == 'P' && (d[1] == '5' || d[1] == '6') && std::isspace(d[2]))
    return ImageFormat::pnm;
  if (size >= 4 && std::memcmp(d, "GIF8", 4) == 0) return ImageFormat::gif;
  if (size >= 4 && (std::memcmp(d, "II*\0", 4) == 0 || std::memcmp(d, "MM\0*", 4) == 0))
    return ImageFormat::tiff;
  if (size >= 12 && std::memcmp(d, "RIFF", 4) == 0 && std::memcmp(d + 8, "WEBP", 4) == 0)
    return ImageFormat::webp;
  return ImageFormat::unknown;
}

ImageInfo probe_image(const std::uint8_t* data, std::size_t size, const std::string& name) {
  const ImageFormat f = detect_format(data, size);
  switch (f) {
    case ImageFormat::jpeg:
      return probe_jpeg(data, size, name);
    case ImageFormat::png:
      return probe_png(data, size, name);
    case ImageFormat::bmp: {
      const BmpHeader b = parse_bmp(data, size, name);
      return {f, b.h, b.w, 3};
    }
    case ImageFormat::pnm: {
      const PnmHeader p = parse_pnm(data, size, name);
      return {f, p.h, p.w, p.c};
    }
    default:
      unsupported(f, name);
  }
}

bool looks_complete(const std::uint8_t* d, std::size_t size, const ImageInfo& info) {
  switch (info.format) {
    case ImageFormat::jpeg:
      return size >= 4 && d[size - 2] == 0xFF && d[size - 1] == 0xD9;
    case ImageFormat::png: {
      static const std::uint8_t iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
      return size >= 20 && std::memcmp(d + size - 12, iend, 12) == 0;
    }
    case ImageFormat::bmp: {
      const BmpHeader b = parse_bmp(d, size, "");
      return b.pixel_offset <= size && b.stride * b.h <= size - b.pixel_offset;
    }
    case ImageFormat::pnm: {
      const PnmHeader p = parse_pnm(d, size, "");
      return size - p.data_offset >= p.h * p.w * p.c;
    }
    default:
      return false;
  }
}

Image decode_image(const std::uint8_t* data, std::size_t size, const std::string& name,
                   ColorMode mode) {
  Image img;
  const ImageFormat f = detect_format(data, size);
  switch (f) {
    case ImageFormat::jpeg:
      img = decode_jpeg(data, size, name);
      break;
    case ImageFormat::png:
      img = decode_png(data, size, name);
      break;
    case ImageFormat::bmp:
      img = decode_bmp(data, size, name);
      break;
    case ImageFormat::pnm:
      img = decode_pnm(data, size, name);
      break;
    default:
      unsupported(f, name);
  }
  if (mode == ColorMode::rgb && img.c != 3) return to_rgb(img);
  if (mode == ColorMode::grayscale && img.c != 1) return to_grayscale(img);
  return img;
}

Image read_image(const std::string& path, ColorMode mode) {
  const std::vector<std::uint8_t> bytes = read_regular_file_bytes(path);
  return decode_image(bytes.data(), bytes.size(), path, mode);
}

Image to_grayscale(const Image& img) {
  if (img.c == 1) return img;
  if (img.c < 1 || img.c > 4)
    throw DataError("image", "cannot convert " + std::to_string(img.c) +
                                 " channels to grayscale; expected 1 to 4");
  Image out(img.h, img.w, 1);
  const std::size_t n = img.h * img.w;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* p = img.data.data() + i * img.c;
    if (img.c == 2) {  // gray + alpha: drop alpha
      out.data[i] = p[0];
      continue;
    }
    // PIL's ITU-R 601-2 luma in 16-bit fixed point, rounded.
    out.data[i] =
        static_cast<std::uint8_t>((std::uint32_t{p[0]} * 19595 + std::uint32_t{p[1]} * 38470 +
                                   std::uint32_t{p[2]} * 7471 + 0x8000) >>
                                  16);
  }
  return out;
}

Image to_rgb(const Image& img) {
  if (img.c == 3) return img;
  if (img.c < 1 || img.c > 4)
    throw DataError(
        "image", "cannot convert " + std::to_string(img.c) + " channels to RGB; expected 1 to 4");
  Image out(img.h, img.w, 3);
  const std::size_t n = img.h * img.w;
  const bool gray = img.c <= 2;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t ch = 0; ch < 3; ++ch)
      out.data[3 * i + ch] = img.data[i * img.c + (gray ? 0 : ch)];
  }
  return out;
}

std::vector<std::uint8_t> encode_png(const Image& img) {
  if (img.h == 0 || img.w == 0 || img.data.size() != img.h * img.w * img.c)
    throw DataError("image", "cannot encode an empty or inconsistent image as PNG");
  if (img.c < 1 || img.c > 4)
    throw DataError("image",
                    "cannot encode " + std::to_string(img.c) + " channels as PNG; expected 1 to 4");
  if (img.h > 0x7fffffff || img.w > 0x7fffffff / img.c)
    throw DataError("image", "is too large for PNG");
  png_image png;
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(img.w);
  png.height = static_cast<png_uint_32>(img.h);
  static const png_uint_32 kFormats[] = {PNG_FORMAT_GRAY, PNG_FORMAT_GA, PNG_FORMAT_RGB,
                                         PNG_FORMAT_RGBA};
  png.format = kFormats[img.c - 1];
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&png, nullptr, &size, 0, img.data.data(), 0, nullptr))
    throw IoError("PNG", "encode", png.message);
  std::vector<std::uint8_t> out(size);
  if (!png_image_write_to_memory(&png, out.data(), &size, 0, img.data.data(), 0, nullptr))
    throw IoError("PNG", "encode", png.message);
  out.resize(size);
  return out;
}

std::vector<std::uint8_t> encode_jpeg(const Image& img, int quality) {
  if (img.h == 0 || img.w == 0 || img.data.size() != img.h * img.w * img.c)
    throw DataError("image", "cannot encode an empty or inconsistent image as JPEG");
  if (img.c != 1 && img.c != 3)
    throw DataError(
        "image", "cannot encode " + std::to_string(img.c) + " channels as JPEG; expected 1 or 3");
  if (quality < 1 || quality > 100)
    throw DataError("image", "JPEG quality " + std::to_string(quality) +
                                 " is out of range; "
                                 "expected 1..100");
  if (img.h > 65500 || img.w > 65500)
    throw DataError("image", "is " + std::to_string(img.w) + "x" + std::to_string(img.h) +
                                 "; JPEG allows at most 65500x65500");
  tjhandle tj = tj_compressor();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  const int rc = tjCompress2(tj, img.data.data(), static_cast<int>(img.w), 0,
                             static_cast<int>(img.h), img.c == 1 ? TJPF_GRAY : TJPF_RGB, &buf,
                             &size, img.c == 1 ? TJSAMP_GRAY : TJSAMP_420, quality, 0);
  if (rc != 0) {
    const std::string msg = tjGetErrorStr2(tj);
    tjFree(buf);
    throw IoError("JPEG", "encode", msg);
  }
  std::vector<std::uint8_t> out(buf, buf + size);
  tjFree(buf);
  return out;
}

void write_png(const std::string& path, const Image& img) {
  const std::vector<std::uint8_t> bytes = encode_png(img);
  write_file_atomically(
      path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

void write_jpeg(const std::string& path, const Image& img, int quality) {
  const std::vector<std::uint8_t> bytes = encode_jpeg(img, quality);
  write_file_atomically(
      path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// ---- Resizing ----

namespace {

// Source index per output index for PIL's NEAREST: floor((x + 0.5) * scale) with the position
// accumulated in double (PIL's ImagingScaleAffine), clamped to the last pixel.
std::vector<std::size_t> nearest_map(std::size_t in, std::size_t out) {
  std::vector<std::size_t> map(out);
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  double pos = scale * 0.5;
  for (std::size_t i = 0; i < out; ++i, pos += scale)
    map[i] = std::min(in - 1, static_cast<std::size_t>(pos));
  return map;
}

// 22 fractional bits: 8-bit samples times weights summing to 1 << 22 fit in a signed 32-bit
// accumulator with two bits to spare (PIL's PRECISION_BITS).
constexpr int kPrecisionBits = 32 - 8 - 2;

// Resampling weights for one axis: output i reads source pixels [first[i], first[i] + count[i])
// with fixed-point weights coeff[i * ksize + k].
struct Coeffs {
  std::size_t ksize = 0;
  std::vector<std::size_t> first, count;
  std::vector<std::int32_t> coeff;
};

// PIL's precompute_coeffs for its triangle (bilinear) filter, support 1.
Coeffs bilinear_coeffs(std::size_t in, std::size_t out) {
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double filterscale = std::max(scale, 1.0);  // widen the filter when shrinking
  const double support = 1.0 * filterscale;
  Coeffs c;
  c.ksize = static_cast<std::size_t>(std::ceil(support)) * 2 + 1;
  c.first.resize(out);
  c.count.resize(out);
  c.coeff.assign(out * c.ksize, 0);
  std::vector<double> w(c.ksize);
  for (std::size_t i = 0; i < out; ++i) {
    const double center = (static_cast<double>(i) + 0.5) * scale;
    // Truncation towards zero, then clamping, as PIL's (int)(x + 0.5).
    const long lo = std::max(0L, static_cast<long>(center - support + 0.5));
    const long hi = std::min(static_cast<long>(in), static_cast<long>(center + support + 0.5));
    const std::size_t n = static_cast<std::size_t>(std::max(0L, hi - lo));
    double total = 0.0;
    for (std::size_t k = 0; k < n; ++k) {
      const double t = std::fabs((static_cast<double>(lo) + static_cast<double>(k) - center + 0.5) /
                                 filterscale);
      w[k] = t < 1.0 ? 1.0 - t : 0.0;
      total += w[k];
    }
    for (std::size_t k = 0; k < n; ++k) {
      const double v = total != 0.0 ? w[k] / total : w[k];
      c.coeff[i * c.ksize + k] = static_cast<std::int32_t>(v < 0 ? -0.5 + v * (1 << kPrecisionBits)
                                                                 : 0.5 + v * (1 << kPrecisionBits));
    }
    c.first[i] = static_cast<std::size_t>(lo);
    c.count[i] = n;
  }
  return c;
}

std::uint8_t clip8(std::int64_t v) {
  v >>= kPrecisionBits;
  return static_cast<std::uint8_t>(std::clamp<std::int64_t>(v, 0, 255));
}

Image resample_horizontal(const Image& in, std::size_t out_w) {
  const Coeffs k = bilinear_coeffs(in.w, out_w);
  Image out(in.h, out_w, in.c);
  for (std::size_t y = 0; y < in.h; ++y) {
    const std::uint8_t* row = in.data.data() + y * in.w * in.c;
    for (std::size_t x = 0; x < out_w; ++x) {
      const std::int32_t* wk = k.coeff.data() + x * k.ksize;
      for (std::size_t ch = 0; ch < in.c; ++ch) {
        std::int64_t acc = std::int64_t{1} << (kPrecisionBits - 1);  // rounds the shift
        for (std::size_t j = 0; j < k.count[x]; ++j)
          acc += std::int64_t{row[(k.first[x] + j) * in.c + ch]} * wk[j];
        out.data[(y * out_w + x) * in.c + ch] = clip8(acc);
      }
    }
  }
  return out;
}

Image resample_vertical(const Image& in, std::size_t out_h) {
  const Coeffs k = bilinear_coeffs(in.h, out_h);
  Image out(out_h, in.w, in.c);
  const std::size_t row_len = in.w * in.c;
  std::vector<std::int64_t> acc(row_len);
  for (std::size_t y = 0; y < out_h; ++y) {
    std::fill(acc.begin(), acc.end(), std::int64_t{1} << (kPrecisionBits - 1));
    const std::int32_t* wk = k.coeff.data() + y * k.ksize;
    for (std::size_t j = 0; j < k.count[y]; ++j) {
      const std::uint8_t* row = in.data.data() + (k.first[y] + j) * row_len;
      for (std::size_t i = 0; i < row_len; ++i) acc[i] += std::int64_t{row[i]} * wk[j];
    }
    std::uint8_t* dst = out.data.data() + y * row_len;
    for (std::size_t i = 0; i < row_len; ++i) dst[i] = clip8(acc[i]);
  }
  return out;
}

}  // namespace

Image resize(const Image& img, std::size_t out_h, std::size_t out_w, Interpolation interpolation) {
  if (out_h == 0 || out_w == 0)
    throw DataError("resize", "target size " + std::to_string(out_w) + "x" + std::to_string(out_h) +
                                  " is empty; expected at least 1x1");
  if (img.h == 0 || img.w == 0) throw DataError("resize", "cannot resize an empty image");
  if (img.h == out_h && img.w == out_w) return img;
  if (interpolation == Interpolation::nearest) {
    const std::vector<std::size_t> ys = nearest_map(img.h, out_h);
    const std::vector<std::size_t> xs = nearest_map(img.w, out_w);
    Image out(out_h, out_w, img.c);
    std::uint8_t* dst = out.data.data();
    for (std::size_t y = 0; y < out_h; ++y) {
      const std::uint8_t* row = img.data.data() + ys[y] * img.w * img.c;
      for (std::size_t x = 0; x < out_w; ++x, dst += img.c)
        std::memcpy(dst, row + xs[x] * img.c, img.c);
    }
    return out;
  }
  // PIL skips a pass whose axis keeps its size (that pass would be the identity anyway).
  if (img.w == out_w) return resample_vertical(img, out_h);
  const Image wide = resample_horizontal(img, out_w);
  return img.h == out_h ? wide : resample_vertical(wide, out_h);
}

}  // namespace cnn::io
