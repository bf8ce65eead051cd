// Classic image filters (the lecture's "image convolution" part): Sobel and Prewitt edge
// kernels, Haar-like kernels, a bank of Gabor filters, or a kernel from a file, applied to a
// grayscale image and shown next to their responses.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "io/image.hpp"

namespace cnn::viz {

// A kernel of h x w weights (row-major). A derived response (an edge magnitude) has no weights
// of its own: h = w = 0 and `of` names the two kernels combined as sqrt(a^2 + b^2).
struct Kernel2D {
  std::string name;
  std::size_t h = 0, w = 0;
  std::vector<float> k;
  std::vector<std::size_t> of;  // magnitude of these two earlier kernels
};

// Sobel: x = [-1 0 1; -2 0 2; -1 0 1] (vertical edges), y its transpose (horizontal edges),
// and the magnitude sqrt(x^2 + y^2). Prewitt: the same with [-1 0 1] rows.
std::vector<Kernel2D> sobel_kernels();
std::vector<Kernel2D> prewitt_kernels();
// Haar-like features (Viola-Jones) of size x size (even): two-rectangle left/right and
// top/bottom, three-rectangle (vertical line), four-rectangle (diagonal); +1 and -1 areas
// scaled so each kernel sums to 0 and its positive part sums to 1.
std::vector<Kernel2D> haar_kernels(std::size_t size = 8);
// The real part of a Gabor kernel as scikit-image's gabor_kernel(frequency, theta, sigma_x =
// sigma_y = sigma, n_stds = 3): g(x, y) = exp(-(x'^2 + y'^2) / (2 sigma^2)) / (2 pi sigma^2)
// * cos(2 pi f x'), x' = x cos(theta) + y sin(theta), y' = -x sin(theta) + y cos(theta), y down.
// thetas in radians, one kernel each.
std::vector<Kernel2D> gabor_kernels(double frequency, double sigma,
                                    const std::vector<double>& thetas);
// scikit-image's default sigma for a bandwidth of 1 octave: 0.56 / frequency (more exactly
// sqrt(ln 2 / 2) / pi * 3 / frequency).
double gabor_default_sigma(double frequency);
// A kernel file: rows of whitespace- or comma-separated numbers, all rows the same length;
// '#' starts a comment. FormatError naming the file and line otherwise.
Kernel2D read_kernel_file(const std::string& path);

// Cross-correlation (the kernel is not flipped, as in Conv2D) of a grayscale image
// (h x w floats) with the kernel centred on each pixel (top-left of centre for even sizes);
// pixels outside the image repeat the nearest edge pixel. The output has the image's size.
std::vector<float> correlate(const std::vector<float>& img, std::size_t h, std::size_t w,
                             const Kernel2D& kernel);

// All responses of a bank: derived magnitudes from the responses they name.
std::vector<std::vector<float>> apply_bank(const std::vector<float>& img, std::size_t h,
                                           std::size_t w, const std::vector<Kernel2D>& bank);

// Where filterbank_picture puts things. The input and the responses are enlarged by the
// smallest whole factor `scale` that makes their longer side at least kMinSide pixels (nearest
// neighbour; 1 for larger images). The input comes first, alone on its row under a label; then
// the kernels in a grid of `cols` columns, row by row: each cell has the kernel's name on top,
// below it the kernel (min-max normalised greys, enlarged into a kKernelBox square; a derived
// magnitude shows its formula there) and, to its right, the response.
struct FilterbankLayout {
  static constexpr std::size_t kMinSide = 192, kKernelBox = 64, kGap = 10;
  std::size_t scale = 1;
  std::size_t cols = 1, rows = 0;
  std::size_t label_h = 0;               // the band of a label line
  std::size_t image_w = 0, image_h = 0;  // the input or a response as drawn
  std::size_t cell_w = 0, cell_h = 0;    // one kernel's cell
  std::size_t input_x = 0, input_y = 0;  // top-left of the input picture
  std::size_t grid_y = 0;                // top of the first row of cells
  std::size_t width = 0, height = 0;     // the whole picture
  // Top-left of cell k, of its kernel box, and of its response picture.
  std::size_t cell_x(std::size_t k) const { return kGap + (k % cols) * (cell_w + kGap); }
  std::size_t cell_y(std::size_t k) const { return grid_y + (k / cols) * (cell_h + kGap); }
  std::size_t response_x(std::size_t k) const { return cell_x(k) + kKernelBox + kGap; }
  std::size_t response_y(std::size_t k) const { return cell_y(k) + label_h; }
};

// The layout of n kernels over an h x w image. cols 0: the default, as many columns as fit in
// 1600 pixels, at most 4 and at most n (at least 1).
FilterbankLayout filterbank_layout(std::size_t h, std::size_t w, std::size_t n,
                                   std::size_t cols = 0);

// The picture of a bank's responses (responses min-max normalised greys; a constant response
// is black) laid out by filterbank_layout(gray.h, gray.w, bank.size(), cols).
io::Image filterbank_picture(const io::Image& gray, const std::vector<Kernel2D>& bank,
                             const std::vector<std::vector<float>>& responses,
                             std::size_t cols = 0);

}  // namespace cnn::viz
