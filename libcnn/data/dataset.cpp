// IDX and folder datasets, Keras's validation split, and dataset spec resolution.
#include "data/dataset.hpp"

#include <glob.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <system_error>
#include <thread>

#include "data/record_stream_dataset.hpp"
#include "io/atomic_file.hpp"
#include "tensor/config.hpp"
#include "tensor/error.hpp"

namespace cnn::data {
namespace fs = std::filesystem;

namespace {

template <typename T>
std::optional<T> lookup(const std::string& name,
                        std::initializer_list<std::pair<const char*, T>> table) {
  for (const auto& [key, value] : table)
    if (name == key) return value;
  return std::nullopt;
}

void fill_lut(float (&lut)[256], float rescale) {
  // float(v) * rescale in float, as Keras's x *= rescale on a float32 array.
  for (std::size_t v = 0; v < 256; ++v) lut[v] = static_cast<float>(v) * rescale;
}

void check_split(const std::string& what, const DatasetOptions& o) {
  if (!(o.validation_split >= 0.0 && o.validation_split < 1.0))
    throw InputError(what, "validation_split " + std::to_string(o.validation_split) +
                               " is out of range; expected 0 <= fraction < 1");
  if (o.subset != Subset::all && o.validation_split == 0.0)
    throw InputError(what, "a training or validation subset needs validation_split > 0");
}

void check_class_mode(const std::string& what, ClassMode mode, std::size_t num_classes) {
  if (mode == ClassMode::binary && num_classes != 2)
    throw DataError(
        what, "class_mode binary needs exactly 2 classes; got " + std::to_string(num_classes));
}

const std::vector<std::string> kFashionClasses = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                  "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                  "Bag",         "Ankle boot"};
const std::vector<std::string> kDigitClasses = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

}  // namespace

const std::vector<SkippedImage>& Dataset::skipped() const {
  static const std::vector<SkippedImage> none;
  return none;
}

const char* class_mode_name(ClassMode mode) {
  switch (mode) {
    case ClassMode::categorical:
      return "categorical";
    case ClassMode::binary:
      return "binary";
    case ClassMode::sparse:
      return "sparse";
  }
  return "categorical";
}

std::optional<ClassMode> parse_class_mode(const std::string& name) {
  return lookup<ClassMode>(name, {{"categorical", ClassMode::categorical},
                                  {"binary", ClassMode::binary},
                                  {"sparse", ClassMode::sparse}});
}

std::optional<io::ColorMode> parse_color_mode(const std::string& name) {
  return lookup<io::ColorMode>(
      name, {{"rgb", io::ColorMode::rgb}, {"grayscale", io::ColorMode::grayscale}});
}

std::optional<io::Interpolation> parse_interpolation(const std::string& name) {
  return lookup<io::Interpolation>(
      name, {{"nearest", io::Interpolation::nearest}, {"bilinear", io::Interpolation::bilinear}});
}

std::optional<Subset> parse_subset(const std::string& name) {
  return lookup<Subset>(name, {{"training", Subset::training}, {"validation", Subset::validation}});
}

std::optional<BadImagePolicy> parse_bad_image_policy(const std::string& name) {
  return lookup<BadImagePolicy>(name,
                                {{"fail", BadImagePolicy::fail}, {"skip", BadImagePolicy::skip}});
}

std::optional<ImageCheck> parse_image_check(const std::string& name) {
  return lookup<ImageCheck>(name, {{"header", ImageCheck::header}, {"full", ImageCheck::full}});
}

std::pair<std::size_t, std::size_t> split_range(std::size_t n, double fraction, Subset subset) {
  // Python's int(n * fraction): the double product truncated.
  const auto cut = std::min(n, static_cast<std::size_t>(static_cast<double>(n) * fraction));
  switch (subset) {
    case Subset::validation:
      return {0, cut};
    case Subset::training:
      return {cut, n};
    case Subset::all:
      break;
  }
  return {0, n};
}

// ---------------------------------------------------------------- IdxDataset

IdxDataset::IdxDataset(const std::string& images_path, const std::string& labels_path,
                       const DatasetOptions& options, std::vector<std::string> known_classes)
    : mode_(options.class_mode) {
  check_split(images_path, options);
  const std::optional<std::size_t> limit =
      !options.classes.empty() ? std::optional<std::size_t>(options.classes.size())
      : !known_classes.empty() ? std::optional<std::size_t>(known_classes.size())
                               : std::nullopt;
  pair_ = io::read_idx_pair(images_path, labels_path, limit);
  if (!options.classes.empty()) {
    classes_ = options.classes;
  } else if (!known_classes.empty()) {
    classes_ = std::move(known_classes);
  } else {
    std::size_t k = 0;
    for (std::uint8_t l : pair_.labels.data) k = std::max<std::size_t>(k, std::size_t{l} + 1);
    for (std::size_t i = 0; i < k; ++i) classes_.push_back(std::to_string(i));
  }
  check_class_mode(labels_path, mode_, classes_.size());

  const auto& d = pair_.images.dims;
  shape_ = {d[1], d[2], d.size() == 4 ? d[3] : 1};
  const auto [b, e] = split_range(pair_.images.count(), options.validation_split, options.subset);
  begin_ = b;
  count_ = e - b;
  if (options.subset != Subset::all) {
    // Keras's flow() refuses a split whose two sides hold different sets of classes (a file
    // sorted by label); so do we.
    const std::size_t cut = options.subset == Subset::validation ? e : b;  // validation is [0, cut)
    std::vector<bool> before(256, false), after(256, false);
    for (std::size_t i = 0; i < pair_.labels.data.size(); ++i)
      (i < cut ? before : after)[pair_.labels.data[i]] = true;
    if (before != after)
      throw DataError(labels_path,
                      "the training and validation subsets of validation_split " +
                          std::to_string(options.validation_split) +
                          " hold different sets of classes; expected the same classes on both "
                          "sides (is the file sorted by label?)");
  }
  fill_lut(lut_, options.rescale.value_or(1.0f / 255.0f));
}

std::int32_t IdxDataset::label(std::size_t index) const {
  if (index >= count_)
    throw DataError(pair_.labels_path, "sample " + std::to_string(index) +
                                           " is out of range; expected < " +
                                           std::to_string(count_));
  return pair_.labels.data[begin_ + index];
}

std::string IdxDataset::sample_name(std::size_t index) const {
  return pair_.images_path + "[" + std::to_string(begin_ + index) + "]";
}

void IdxDataset::load(std::size_t index, float* out, std::int32_t& label,
                      std::uint64_t /*seed*/) const {
  label = this->label(index);
  const std::size_t n = pair_.images.item_size();
  const std::uint8_t* px = pair_.images.data.data() + (begin_ + index) * n;
  for (std::size_t i = 0; i < n; ++i) out[i] = lut_[px[i]];
}

// ---------------------------------------------------------------- DirectoryDataset

namespace {

bool has_image_extension(const std::string& name) {
  static const char* const kExtensions[] = {".png", ".jpg", ".jpeg", ".bmp",
                                            ".ppm", ".tif", ".tiff"};
  std::string lower = name;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (const char* ext : kExtensions) {
    const std::size_t n = std::strlen(ext);
    if (lower.size() > n && lower.compare(lower.size() - n, n, ext) == 0) return true;
  }
  return false;
}

// Keras's _iter_valid_files: os.walk(class_dir) sorted by folder path, files sorted by name in
// each folder. Returns full paths.
std::vector<std::string> list_class_files(const fs::path& dir) {
  std::vector<std::pair<std::string, std::string>> found;  // (folder, file name)
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) throw InputError(dir.string(), "cannot list the folder: " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) throw InputError(dir.string(), "cannot list the folder: " + ec.message());
    std::error_code sec;
    if (it->is_directory(sec)) continue;  // os.walk lists these as folders (links too)
    const std::string name = it->path().filename().string();
    if (has_image_extension(name)) found.emplace_back(it->path().parent_path().string(), name);
  }
  if (ec) throw InputError(dir.string(), "cannot list the folder: " + ec.message());
  // Byte order of UTF-8 equals Python's code-point order; pairs sort by folder, then name.
  std::sort(found.begin(), found.end());
  std::vector<std::string> paths;
  paths.reserve(found.size());
  for (const auto& [folder, name] : found) paths.push_back(folder + "/" + name);
  return paths;
}

// The sentence of an error about path without its "path: " prefix.
std::string problem_of(const Error& e, const std::string& path) {
  const std::string m = e.what();
  const std::string prefix = path + ": ";
  return m.rfind(prefix, 0) == 0 ? m.substr(prefix.size()) : m;
}

// The ImageCheck of one file: the problem (DataError or InputError sentence without the path),
// or nullopt when the file is fine.
std::optional<std::string> check_image(const std::string& path, ImageCheck check) {
  try {
    const std::vector<std::uint8_t> bytes = io::read_regular_file_bytes(path);
    const io::ImageInfo info = io::probe_image(bytes.data(), bytes.size(), path);
    if (check == ImageCheck::full || !io::looks_complete(bytes.data(), bytes.size(), info))
      io::decode_image(bytes.data(), bytes.size(), path);
  } catch (const Error& e) {
    return problem_of(e, path);
  }
  return std::nullopt;
}

}  // namespace

DirectoryDataset::DirectoryDataset(const std::string& directory, const DatasetOptions& options)
    : directory_(directory),
      mode_(options.class_mode),
      color_(options.color_mode),
      interpolation_(options.interpolation) {
  check_split(directory, options);
  if (options.color_mode == io::ColorMode::native)
    throw InputError(directory, "color_mode must be rgb or grayscale for a folder dataset");
  if (options.target_h == 0 || options.target_w == 0)
    throw InputError(directory, "target size " + std::to_string(options.target_h) + "x" +
                                    std::to_string(options.target_w) +
                                    " is empty; expected at least 1x1");
  std::error_code ec;
  const fs::path root(directory);
  if (!fs::exists(root, ec)) throw InputError(directory, "no such folder");
  if (!fs::is_directory(root, ec)) throw InputError(directory, "is not a folder");

  if (options.classes.empty()) {
    fs::directory_iterator it(root, ec), end;
    if (ec) throw InputError(directory, "cannot list the folder: " + ec.message());
    for (; it != end; it.increment(ec)) {
      std::error_code sec;
      if (it->is_directory(sec)) classes_.push_back(it->path().filename().string());
    }
    if (ec) throw InputError(directory, "cannot list the folder: " + ec.message());
    std::sort(classes_.begin(), classes_.end());
    if (classes_.empty())
      throw DataError(directory,
                      "contains no class sub-folders; expected one folder of images "
                      "per class");
  } else {
    classes_ = options.classes;
    for (const auto& c : classes_)
      if (!io::is_plain_name(c))
        throw DataError(directory, "the class name " + quote(c) +
                                       " is not a sub-folder name (it has '/' or is '..')");
  }
  check_class_mode(directory, mode_, classes_.size());

  // List every class, apply the per-class split.
  std::vector<std::string> candidates;
  std::vector<std::int32_t> candidate_labels;
  for (std::size_t k = 0; k < classes_.size(); ++k) {
    const fs::path dir = root / classes_[k];
    if (!fs::exists(dir, ec))
      throw InputError(dir.string(), "class folder '" + classes_[k] + "' does not exist");
    if (!fs::is_directory(dir, ec))
      throw InputError(dir.string(), "class '" + classes_[k] + "' is not a folder");
    const std::vector<std::string> files = list_class_files(dir);
    if (files.empty())
      throw DataError(dir.string(),
                      "class folder '" + classes_[k] +
                          "' contains no images; expected files ending in .png, .jpg, .jpeg, "
                          ".bmp, .ppm, .tif or .tiff");
    const auto [b, e] = split_range(files.size(), options.validation_split, options.subset);
    for (std::size_t i = b; i < e; ++i) {
      candidates.push_back(files[i]);
      candidate_labels.push_back(static_cast<std::int32_t>(k));
    }
  }

  // Check every file, on several threads; results are kept per file, so the outcome does not
  // depend on the thread count.
  std::vector<std::optional<std::string>> problems(candidates.size());
  std::vector<std::exception_ptr> crashes(candidates.size());
  const std::size_t threads =
      std::max<std::size_t>(1, std::min(options.threads, candidates.size()));
  const auto work = [&](std::size_t t) {
    for (std::size_t i = t; i < candidates.size(); i += threads) {
      try {
        problems[i] = check_image(candidates[i], options.check);
      } catch (...) {  // not a data problem (e.g. out of memory): rethrown below
        crashes[i] = std::current_exception();
      }
    }
  };
  if (threads == 1) {
    work(0);
  } else {
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t) pool.emplace_back(work, t);
    for (auto& th : pool) th.join();
  }
  for (const auto& crash : crashes)
    if (crash) std::rethrow_exception(crash);

  std::vector<std::size_t> per_class(classes_.size(), 0);
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (problems[i]) {
      if (options.on_bad_image == BadImagePolicy::fail)
        throw DataError(candidates[i], *problems[i] +
                                           "; use on_bad_image=skip to leave bad "
                                           "images out");
      skipped_.push_back({candidates[i], *problems[i]});
      continue;
    }
    paths_.push_back(candidates[i]);
    labels_.push_back(candidate_labels[i]);
    ++per_class[static_cast<std::size_t>(candidate_labels[i])];
  }
  for (std::size_t k = 0; k < classes_.size(); ++k) {
    if (per_class[k] == 0 && options.subset == Subset::all)
      throw DataError((root / classes_[k]).string(), "class folder '" + classes_[k] +
                                                         "' has no readable images; all " +
                                                         "were skipped as bad");
  }
  const std::size_t prefix = root.string().size() + (root.string().back() == '/' ? 0 : 1);
  for (const auto& p : paths_) relative_.push_back(p.substr(prefix));

  const std::size_t c = color_ == io::ColorMode::grayscale ? 1 : 3;
  shape_ = {options.target_h, options.target_w, c};
  fill_lut(lut_, options.rescale.value_or(1.0f));
}

namespace {

// Decodes path, converts, resizes to shape (h, w, c) and maps pixels through lut into out.
void load_image_sample(const std::string& path, io::ColorMode color, const Shape& shape,
                       io::Interpolation interpolation, const float (&lut)[256], float* out) {
  io::Image img = io::read_image(path, color);
  if (img.h != shape[0] || img.w != shape[1])
    img = io::resize(img, shape[0], shape[1], interpolation);
  const std::size_t n = img.data.size();
  for (std::size_t i = 0; i < n; ++i) out[i] = lut[img.data[i]];
}

}  // namespace

void DirectoryDataset::load(std::size_t index, float* out, std::int32_t& label,
                            std::uint64_t /*seed*/) const {
  const std::string& path = paths_.at(index);
  label = labels_[index];
  try {
    load_image_sample(path, color_, shape_, interpolation_, lut_, out);
  } catch (const DataError& e) {
    throw DataError(path, problem_of(e, path) +
                              " (the file passed the header check when the folder was opened; "
                              "check=full decodes every file then)");
  }
}

ImageFilesDataset::ImageFilesDataset(std::vector<std::string> paths, const DatasetOptions& options,
                                     std::vector<std::string> class_names)
    : paths_(std::move(paths)),
      classes_(std::move(class_names)),
      shape_{options.target_h, options.target_w,
             options.color_mode == io::ColorMode::grayscale ? std::size_t{1} : std::size_t{3}},
      mode_(options.class_mode),
      color_(options.color_mode),
      interpolation_(options.interpolation) {
  for (const auto& p : paths_) {
    std::error_code ec;
    if (!fs::is_regular_file(p, ec))
      throw InputError(p, fs::exists(p, ec) ? "not a regular file" : "no such file");
  }
  fill_lut(lut_, options.rescale.value_or(1.0f));
}

void ImageFilesDataset::load(std::size_t index, float* out, std::int32_t& label,
                             std::uint64_t /*seed*/) const {
  label = 0;
  load_image_sample(paths_.at(index), color_, shape_, interpolation_, lut_, out);
}

// ---------------------------------------------------------------- image files

std::vector<std::string> expand_image_paths(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const auto& a : args) {
    std::error_code ec;
    if (fs::is_directory(a, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(a, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
        if (it->is_regular_file(ec) && has_image_extension(it->path().filename().string()))
          found.push_back(it->path().string());
      if (ec) throw InputError(a, "cannot list the folder: " + ec.message());
      if (found.empty())
        throw InputError(a, "has no image files (.png, .jpg, .jpeg, .bmp, .ppm, .tif, .tiff)");
      std::sort(found.begin(), found.end());
      out.insert(out.end(), found.begin(), found.end());
    } else if (a.find_first_of("*?[") != std::string::npos && !fs::exists(a, ec)) {
      glob_t g{};
      const int rc = ::glob(a.c_str(), 0, nullptr, &g);
      std::vector<std::string> found;
      if (rc == 0)
        for (std::size_t i = 0; i < g.gl_pathc; ++i) found.emplace_back(g.gl_pathv[i]);
      ::globfree(&g);
      if (found.empty()) throw InputError(a, "no file matches the pattern");
      std::sort(found.begin(), found.end());
      out.insert(out.end(), found.begin(), found.end());
    } else {
      out.push_back(a);
    }
  }
  return out;
}

// ---------------------------------------------------------------- open_dataset

namespace {

// The split word after the last ':' of spec ("train" / "test"), or nullopt.
std::optional<std::string> split_word(const std::string& spec, std::string& head) {
  const std::size_t colon = spec.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  head = spec.substr(0, colon);
  return spec.substr(colon + 1);
}

std::string idx_file(const std::string& dir, const std::string& stem) {
  for (const char* suffix : {".gz", ""}) {
    const std::string p = dir + "/" + stem + suffix;
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return p;
  }
  throw InputError(dir, "has no IDX file " + stem + "(.gz); expected " +
                            "{train,t10k}-images-idx3-ubyte and {train,t10k}-labels-idx1-ubyte, "
                            "gzipped or plain");
}

std::unique_ptr<Dataset> open_idx_folder(const std::string& spec, const std::string& dir,
                                         const std::string& split, const DatasetOptions& options,
                                         const std::vector<std::string>& known) {
  std::string prefix;
  if (split == "train") {
    prefix = "train";
  } else if (split == "test") {
    prefix = "t10k";
  } else {
    throw InputError(spec,
                     "unknown split '" + split + "'; " + choices_hint(split, {"train", "test"}));
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw InputError(dir, "no such folder of IDX files");
  return std::make_unique<IdxDataset>(idx_file(dir, prefix + "-images-idx3-ubyte"),
                                      idx_file(dir, prefix + "-labels-idx1-ubyte"), options, known);
}

}  // namespace

float default_rescale(const std::string& spec) {
  if (spec.rfind("fashion-mnist:", 0) == 0 || spec.rfind("mnist:", 0) == 0 ||
      spec.rfind("idx:", 0) == 0)
    return 1.0f / 255.0f;
  std::error_code ec;
  std::string head;
  if (!fs::is_directory(spec, ec) && !is_record_stream_spec(spec) && split_word(spec, head) &&
      fs::is_directory(head, ec))
    return 1.0f / 255.0f;
  return 1.0f;
}

std::string resolve_dataset_spec(const std::string& spec, const std::string& base_dir) {
  if (base_dir.empty() || spec.empty() || spec == "-" || spec.rfind("fashion-mnist:", 0) == 0 ||
      spec.rfind("mnist:", 0) == 0)
    return spec;
  const auto abs = [&](const std::string& p) {
    if (p.empty() || fs::path(p).is_absolute()) return p;
    return fs::absolute(fs::path(base_dir) / p).lexically_normal().string();
  };
  if (spec.rfind("idx:", 0) == 0) {
    const std::string rest = spec.substr(4);
    const std::size_t comma = rest.find(',');
    if (comma == std::string::npos) return spec;  // open_dataset explains the form
    return "idx:" + abs(rest.substr(0, comma)) + "," + abs(rest.substr(comma + 1));
  }
  return abs(spec);
}

std::unique_ptr<Dataset> open_dataset(const std::string& spec, const DatasetOptions& options) {
  const std::string kForms =
      "expected fashion-mnist:train|test, mnist:train|test, DIR:train|test (a folder of IDX "
      "files), idx:IMAGES,LABELS, a folder of class sub-folders, or a record stream (- for "
      "stdin, FILE.cnnrec)";
  if (is_record_stream_spec(spec)) return std::make_unique<RecordStreamDataset>(spec, options);
  if (spec.rfind("fashion-mnist:", 0) == 0)
    return open_idx_folder(spec, options.fashion_mnist_dir, spec.substr(14), options,
                           kFashionClasses);
  if (spec.rfind("mnist:", 0) == 0) {
    const char* env = std::getenv("CNN_MNIST_DIR");
    const std::string dir = env && *env ? env : options.mnist_dir;
    if (dir.empty())
      throw InputError(spec,
                       "no MNIST folder is known; set CNN_MNIST_DIR to the folder of "
                       "the four MNIST IDX files");
    return open_idx_folder(spec, dir, spec.substr(6), options, kDigitClasses);
  }
  if (spec.rfind("idx:", 0) == 0) {
    const std::string rest = spec.substr(4);
    const std::size_t comma = rest.find(',');
    if (comma == std::string::npos || rest.find(',', comma + 1) != std::string::npos ||
        comma == 0 || comma + 1 == rest.size())
      throw InputError(spec, "expected idx:IMAGES,LABELS (two paths separated by one comma)");
    return std::make_unique<IdxDataset>(rest.substr(0, comma), rest.substr(comma + 1), options);
  }
  std::error_code ec;
  if (fs::is_directory(spec, ec)) return std::make_unique<DirectoryDataset>(spec, options);
  std::string head;
  if (const auto word = split_word(spec, head); word && fs::is_directory(head, ec))
    return open_idx_folder(spec, head, *word, options, {});
  if (fs::exists(spec, ec)) throw InputError(spec, "is a file, not a dataset; " + kForms);
  const std::string guess =
      nearest(spec, {"fashion-mnist:train", "fashion-mnist:test", "mnist:train", "mnist:test"});
  throw InputError(spec, "no such dataset; " + kForms +
                             (guess.empty() ? "" : " (did you mean '" + guess + "'?)"));
}

nlohmann::ordered_json class_indices_json(const std::vector<std::string>& class_names) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (std::size_t k = 0; k < class_names.size(); ++k) j[class_names[k]] = k;
  return j;
}

}  // namespace cnn::data
