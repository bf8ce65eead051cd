// 8-bit images: decoding JPEG (TurboJPEG), PNG (libpng), BMP and binary PNM; encoding PNG and
// JPEG atomically; colour conversion and resizing with PIL's conventions (what Keras's
// load_img and flow_from_directory use).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cnn::io {

// An 8-bit image, rows top to bottom, channels interleaved (HWC): c = 1 (grayscale),
// 3 (RGB); 2 (gray + alpha) and 4 (RGBA) only as input to the converters and the PNG writer.
struct Image {
  std::size_t h = 0, w = 0, c = 0;
  std::vector<std::uint8_t> data;  // h * w * c bytes

  Image() = default;
  Image(std::size_t h_, std::size_t w_, std::size_t c_) : h(h_), w(w_), c(c_), data(h_ * w_ * c_) {}
  std::uint8_t& at(std::size_t y, std::size_t x, std::size_t ch) {
    return data[(y * w + x) * c + ch];
  }
  std::uint8_t at(std::size_t y, std::size_t x, std::size_t ch) const {
    return data[(y * w + x) * c + ch];
  }
};

// File formats, told apart by their first bytes (never by the file name).
enum class ImageFormat { unknown, jpeg, png, bmp, pnm, gif, tiff, webp };

// "JPEG", "PNG", ...; "unknown" for unknown.
const char* format_name(ImageFormat format);

// The format whose magic bytes start data (JPEG FF D8 FF, PNG's 8-byte signature, "BM",
// "P5"/"P6", GIF8, II*\0 / MM\0*, RIFF....WEBP).
ImageFormat detect_format(const std::uint8_t* data, std::size_t size);

// What a header says, without decoding the pixels.
struct ImageInfo {
  ImageFormat format = ImageFormat::unknown;
  std::size_t h = 0, w = 0;
  std::size_t c = 0;  // channels a native decode gives: 1 or 3
};

// Reads only the headers. Throws DataError(name, sentence) for an unsupported format or a
// header that is not valid. A file that passes may still fail to decode (corrupt or truncated
// pixel data); see looks_complete().
ImageInfo probe_image(const std::uint8_t* data, std::size_t size, const std::string& name);

// A cheap test for truncation: a JPEG ends with the end-of-image marker FF D9, a PNG with its
// IEND chunk, a BMP or PNM is at least as long as its header says. False means "decode it to
// be sure" (valid JPEGs may carry bytes after FF D9), not "corrupt".
bool looks_complete(const std::uint8_t* data, std::size_t size, const ImageInfo& info);

// How decoded pixels are delivered. native keeps the file's gray/colour nature (1 or 3
// channels); rgb replicates gray; grayscale converts colour with PIL's "L" weights,
// L = (19595 R + 38470 G + 7471 B + 32768) >> 16. Alpha is dropped, as PIL's convert() does.
enum class ColorMode { native, rgb, grayscale };

// Decodes a JPEG, PNG, BMP (uncompressed 1/4/8/24/32-bit) or binary PNM (P5/P6, maxval <= 255)
// held in memory. name is used in errors only.
// Throws DataError(name, sentence) for unsupported formats and for corrupt or truncated data,
// including JPEGs that libjpeg-turbo decodes with a "Premature end of JPEG file" warning.
// Other libjpeg warnings (e.g. extraneous bytes before a marker) are accepted, as PIL accepts
// them. Decoding never exits the process (TurboJPEG's error returns, libpng's png_image API).
Image decode_image(const std::uint8_t* data, std::size_t size, const std::string& name,
                   ColorMode mode = ColorMode::native);

// Reads and decodes a file: InputError if it cannot be read, DataError(path, ...) otherwise.
Image read_image(const std::string& path, ColorMode mode = ColorMode::native);

// Colour conversions (see ColorMode) of 1 to 4 channels; alpha is dropped; a copy when nothing
// changes.
Image to_grayscale(const Image& img);
Image to_rgb(const Image& img);

// Encoders: PNG (c = 1 to 4, lossless) and JPEG (c = 1 or 3; quality 1..100, 4:2:0 chroma
// subsampling for colour, as PIL's default). Throw DataError for an empty image or an
// unsupported channel count.
std::vector<std::uint8_t> encode_png(const Image& img);
std::vector<std::uint8_t> encode_jpeg(const Image& img, int quality = 95);

// Write the encoded image atomically (a temporary file in the same directory, then rename);
// IoError on failure, and nothing is left behind.
void write_png(const std::string& path, const Image& img);
void write_jpeg(const std::string& path, const Image& img, int quality = 95);

// Resampling filters of resize(); Keras's flow_from_directory defaults to nearest.
enum class Interpolation { nearest, bilinear };

// Resizes to out_h x out_w (both >= 1) with PIL's Image.resize semantics, which is what Keras
// load_img(target_size=..., interpolation=...) does:
// - Coordinates are pixel centres: output pixel x samples the source at
//   src = (x + 0.5) * in_w / out_w - 0.5 (the same for y).
// - nearest: the source pixel containing that point, floor((x + 0.5) * in_w / out_w), with
//   the scale accumulated in double precision as PIL does.
// - bilinear: PIL's BILINEAR, a triangle filter around src. When shrinking, the triangle is
//   widened by the scale factor (in/out), so every source pixel contributes (antialiasing);
//   when enlarging it is classic bilinear interpolation with edges clamped. Weights are
//   normalised, turned into 22-bit fixed point, and the horizontal pass runs first with its
//   result rounded to 8 bits, then the vertical pass, exactly as PIL does for 8-bit images.
// The same size returns a copy.
Image resize(const Image& img, std::size_t out_h, std::size_t out_w, Interpolation interpolation);

}  // namespace cnn::io
