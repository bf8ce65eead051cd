// Datasets: numbered samples, each a float32 HWC image (rescale applied) with an integer class
// label. IDX image/label pairs (MNIST, Fashion-MNIST), folders of class sub-folders with Keras
// flow_from_directory semantics, and the spec strings that name them (DESIGN.md "Datasets").
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "io/idx.hpp"
#include "io/image.hpp"
#include "tensor/tensor.hpp"

namespace cnn::data {

// How a trainer is to use the labels (Keras class_mode). The label a dataset gives is always
// the class index; categorical means one-hot vectors of num_classes(), binary a single 0/1
// target (exactly two classes), sparse the index itself.
enum class ClassMode { categorical, binary, sparse };

// Keras ImageDataGenerator(validation_split) subsets.
enum class Subset { all, training, validation };

// What a folder dataset does with files that are not decodable images.
enum class BadImagePolicy { fail, skip };

// How much of every image a folder dataset checks when it is opened:
// header: the header (format, size), plus a full decode of any file whose end looks truncated
//   (a JPEG not ending in FF D9, a PNG not ending in IEND) -- cheap, and catches truncation;
// full: a full decode of every file (a JPEG corrupt in the middle is only found this way).
enum class ImageCheck { header, full };

// Names as used on command lines and in recipes: "categorical", "binary", "sparse"; "rgb",
// "grayscale"; "nearest", "bilinear"; "training", "validation"; "fail", "skip"; "header",
// "full". The parsers return nullopt for anything else.
const char* class_mode_name(ClassMode mode);
std::optional<ClassMode> parse_class_mode(const std::string& name);
std::optional<io::ColorMode> parse_color_mode(const std::string& name);
std::optional<io::Interpolation> parse_interpolation(const std::string& name);
std::optional<Subset> parse_subset(const std::string& name);
std::optional<BadImagePolicy> parse_bad_image_policy(const std::string& name);
std::optional<ImageCheck> parse_image_check(const std::string& name);

// A dataset spec with its paths made absolute against base_dir (a recipe's folder, or the
// current directory for flags): FOLDER, FOLDER:split, FILE.cnnrec and idx:IMAGES,LABELS.
// Named datasets (fashion-mnist:..., mnist:...), "-" and absolute paths are returned as they
// are; so is everything when base_dir is empty.
std::string resolve_dataset_spec(const std::string& spec, const std::string& base_dir);

// The default rescale of the dataset spec names without opening it: 1/255 for IDX data
// (fashion-mnist:, mnist:, idx:, FOLDER:split), 1 for anything else (a record stream's own
// declared factor needs the stream: Dataset::default_rescale).
float default_rescale(const std::string& spec);

// A file flow_from_directory would have read, left out by BadImagePolicy::skip.
struct SkippedImage {
  std::string path;
  std::string reason;  // the DataError sentence
};

// A fixed, ordered set of labelled samples.
class Dataset {
 public:
  virtual ~Dataset() = default;

  // Number of samples.
  virtual std::size_t size() const = 0;
  // Shape of one sample, {h, w, c}.
  virtual Shape sample_shape() const = 0;
  // Class names; label k means class_names()[k].
  virtual const std::vector<std::string>& class_names() const = 0;
  virtual ClassMode class_mode() const = 0;
  // The label of sample index (cheap: no decoding).
  virtual std::int32_t label(std::size_t index) const = 0;
  // A name for the sample in messages and prediction files (a file path, or "file[i]").
  virtual std::string sample_name(std::size_t index) const = 0;

  // Writes sample index (index < size()) to out, numel(sample_shape()) floats in HWC order
  // with the rescale factor applied, and its class index to label. seed is a per-sample seed
  // for datasets that draw random numbers (augmentation); the Batcher derives it from its seed,
  // the epoch and the sample's position, so results do not depend on threads. Deterministic
  // datasets ignore it.
  // Must be safe to call concurrently from several threads (for different or equal indices).
  // Throws DataError naming the file (or InputError when it vanished) if the sample cannot be
  // read.
  virtual void load(std::size_t index, float* out, std::int32_t& label,
                    std::uint64_t seed) const = 0;

  // The factor samples are multiplied by when DatasetOptions::rescale is unset: 1/255 for IDX
  // data, a record stream's declared "rescale", 1 otherwise. cnn-train records the effective
  // factor in the model's preprocessing (see train::run_training).
  virtual float default_rescale() const { return 1.0f; }
  // Samples left out as unreadable (on_bad_image skip), each with its reason; none by default.
  virtual const std::vector<SkippedImage>& skipped() const;
  // 0: every epoch draws from all samples. k > 0: epoch e reads only samples [e*k, (e+1)*k)
  // (modulo size()): an endless record stream read ahead for every epoch gives each epoch
  // fresh records, as Keras's generator does, instead of reusing the same ones.
  virtual std::size_t epoch_block() const { return 0; }

  std::size_t num_classes() const { return class_names().size(); }
  std::size_t sample_numel() const { return numel(sample_shape()); }
};

struct DatasetOptions {
  // Folders of images (flow_from_directory). IDX datasets keep their own size and channels.
  std::size_t target_h = 256, target_w = 256;     // Keras target_size
  io::ColorMode color_mode = io::ColorMode::rgb;  // rgb or grayscale
  io::Interpolation interpolation = io::Interpolation::nearest;
  BadImagePolicy on_bad_image = BadImagePolicy::fail;
  ImageCheck check = ImageCheck::header;
  std::size_t threads = 1;  // threads for the check when the folder is opened (>= 1)

  // All datasets.
  // Class names in label order. Folders: empty means the sorted sub-folder names; given, only
  // those sub-folders are read, in this order. IDX: empty means the known names (Fashion-MNIST,
  // MNIST's "0".."9") or "0".."K-1" for K = largest label + 1; given, labels must be below
  // its size.
  std::vector<std::string> classes;
  ClassMode class_mode = ClassMode::categorical;
  std::optional<float> rescale;   // sample = pixel * rescale; default: Dataset::default_rescale()
  double validation_split = 0.0;  // 0 <= v < 1; see split_range()
  Subset subset = Subset::all;    // training or validation need validation_split > 0
  // Record streams without a count (endless): how many records to read (see
  // RecordStreamDataset); nullopt refuses such a stream.
  std::optional<std::size_t> stream_limit;
  // With stream_limit: the epochs the records are for (each gets its own, see epoch_block).
  std::size_t stream_epochs = 0;

  // Where named datasets live.
  // "mnist:..." reads the folder in the environment variable CNN_MNIST_DIR, else this one
  // (programs pass their compile-time default, e.g. the project's ../shared/data/mnist).
  std::string mnist_dir;
  std::string fashion_mnist_dir = "/usr/share/datasets/fashion-mnist";
};

// Keras ImageDataGenerator(validation_split=fraction) on n items in their order: the
// validation subset is the FIRST int(n * fraction) items and the training subset the rest
// (Keras's split = (0, v) and (v, 1)). Folder datasets apply it to each class separately, as
// flow_from_directory does; IDX datasets to the whole array, as flow(x, y) does. Returns the
// half-open range [begin, end) of the subset; Subset::all gives [0, n).
std::pair<std::size_t, std::size_t> split_range(std::size_t n, double fraction, Subset subset);

// Samples of an IDX image file and label file, all held in memory as bytes.
class IdxDataset : public Dataset {
 public:
  // Reads and checks both files (see io::read_idx_pair). known_classes are the default class
  // names (options.classes wins). name prefixes sample names. Throws FormatError/DataError/
  // InputError as io::read_idx_pair does, and InputError for bad options.
  IdxDataset(const std::string& images_path, const std::string& labels_path,
             const DatasetOptions& options, std::vector<std::string> known_classes = {});

  std::size_t size() const override { return count_; }
  Shape sample_shape() const override { return shape_; }
  const std::vector<std::string>& class_names() const override { return classes_; }
  ClassMode class_mode() const override { return mode_; }
  std::int32_t label(std::size_t index) const override;
  std::string sample_name(std::size_t index) const override;
  void load(std::size_t index, float* out, std::int32_t& label, std::uint64_t seed) const override;
  float default_rescale() const override { return 1.0f / 255.0f; }

  const io::IdxPair& arrays() const { return pair_; }

 private:
  io::IdxPair pair_;
  std::size_t begin_ = 0, count_ = 0;  // the subset: file items [begin_, begin_ + count_)
  Shape shape_;
  std::vector<std::string> classes_;
  ClassMode mode_;
  float lut_[256];  // pixel value -> float(value) * rescale
};

// Keras flow_from_directory(directory, ...): classes are the sorted sub-folder names (or the
// given list); each class folder is walked recursively (symbolic links to folders are not
// followed), its files with extension .png .jpg .jpeg .bmp .ppm .tif .tiff (any case) taken
// in Keras's order (folders sorted by path, files sorted by name within each); samples are
// ordered class by class. Every image is converted to color_mode, resized to target size with
// the interpolation (PIL's resize; see io::resize) when its size differs, and rescaled.
// The format is found from the file's bytes, not its extension (TIFF is not supported).
//
// Bad images: when the dataset is opened, every file gets the ImageCheck of the options
// (on options.threads threads). With BadImagePolicy::fail the first bad file in sample order
// throws DataError naming it; with skip, bad files are left out and listed by skipped().
// A file that passes the check but fails to decode later (corrupt pixel data that only
// ImageCheck::full finds) makes load() throw DataError naming the file, in both policies.
class DirectoryDataset : public Dataset {
 public:
  // Throws InputError for a missing or unreadable folder or class folder, DataError for a
  // folder without class folders, an empty class folder (naming it), a class whose files were
  // all skipped, binary class_mode without exactly two classes, and the first bad image under
  // BadImagePolicy::fail.
  DirectoryDataset(const std::string& directory, const DatasetOptions& options);

  std::size_t size() const override { return paths_.size(); }
  Shape sample_shape() const override { return shape_; }
  const std::vector<std::string>& class_names() const override { return classes_; }
  ClassMode class_mode() const override { return mode_; }
  std::int32_t label(std::size_t index) const override { return labels_.at(index); }
  std::string sample_name(std::size_t index) const override { return paths_.at(index); }
  void load(std::size_t index, float* out, std::int32_t& label, std::uint64_t seed) const override;

  // Keras's filenames: paths relative to the folder ("cats/cat.0.jpg"), in sample order.
  const std::vector<std::string>& filenames() const { return relative_; }
  // Full paths in sample order.
  const std::vector<std::string>& paths() const { return paths_; }
  const std::vector<SkippedImage>& skipped() const override { return skipped_; }

 private:
  std::string directory_;
  std::vector<std::string> classes_, paths_, relative_;
  std::vector<std::int32_t> labels_;
  std::vector<SkippedImage> skipped_;
  Shape shape_;
  ClassMode mode_;
  io::ColorMode color_;
  io::Interpolation interpolation_;
  float lut_[256];
};

// Single image files (predictions for photos given on the command line), read as a folder
// dataset reads its files: converted to color_mode, resized to the target size, rescaled.
// Labels are unknown: label() is 0 for every file. Files are decoded when loaded; a bad one
// throws DataError naming it.
// Image files named on a command line, as a list of paths: a folder stands for every image
// file under it (recursively, sorted by path), a pattern with *, ? or [ for its matches
// (glob(3), sorted; useful when the shell did not expand it), anything else for itself.
// InputError for a folder without images or a pattern that matches nothing.
std::vector<std::string> expand_image_paths(const std::vector<std::string>& args);

class ImageFilesDataset : public Dataset {
 public:
  // Throws InputError for a missing file. class_names are the model's classes.
  ImageFilesDataset(std::vector<std::string> paths, const DatasetOptions& options,
                    std::vector<std::string> class_names);
  std::size_t size() const override { return paths_.size(); }
  Shape sample_shape() const override { return shape_; }
  const std::vector<std::string>& class_names() const override { return classes_; }
  ClassMode class_mode() const override { return mode_; }
  std::int32_t label(std::size_t) const override { return 0; }
  std::string sample_name(std::size_t index) const override { return paths_.at(index); }
  void load(std::size_t index, float* out, std::int32_t& label, std::uint64_t seed) const override;

 private:
  std::vector<std::string> paths_, classes_;
  Shape shape_;
  ClassMode mode_;
  io::ColorMode color_;
  io::Interpolation interpolation_;
  float lut_[256];
};

// Opens the dataset a spec names:
//   fashion-mnist:train | fashion-mnist:test   options.fashion_mnist_dir/{train,t10k}-...
//   mnist:train | mnist:test                   $CNN_MNIST_DIR or options.mnist_dir
//   DIR:train | DIR:test                       a folder holding {train,t10k}-images-idx3-ubyte
//                                              and -labels-idx1-ubyte (each .gz or plain)
//   idx:IMAGES,LABELS                          any IDX image/label pair
//   DIR                                        a folder of class sub-folders (DirectoryDataset)
//   - | FILE.cnnrec | a record stream file       a record stream (RecordStreamDataset)
// Throws InputError for a spec that names nothing (listing these forms), and whatever the
// chosen dataset's constructor throws.
std::unique_ptr<Dataset> open_dataset(const std::string& spec, const DatasetOptions& options);

// Keras's class_indices: {"cats": 0, "dogs": 1}, keys in label order. The caller saves it.
nlohmann::ordered_json class_indices_json(const std::vector<std::string>& class_names);

}  // namespace cnn::data
