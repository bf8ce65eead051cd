// See keras_archive.hpp.
#include "io/keras_archive.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zip.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <vector>

#include "io/atomic_file.hpp"
#include "tensor/error.hpp"

namespace cnn::io {
namespace {

constexpr zip_uint64_t kMaxConfig = zip_uint64_t{64} << 20;
// zipfile's own guard in Keras: a member that expands past 256 MiB and more than 100 times its
// stored size is refused as a zip bomb.
constexpr zip_uint64_t kBombFloor = zip_uint64_t{256} << 20;
constexpr zip_uint64_t kMaxExpansion = 100;

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct FileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};

// The member called name, checked: its index and stat.
zip_stat_t member(zip_t* z, const char* name, const std::string& path, const std::string& hint) {
  const zip_int64_t index = zip_name_locate(z, name, 0);
  if (index < 0)
    throw FormatError(path, std::nullopt, "the archive has no " + std::string(name) + hint);
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(z, static_cast<zip_uint64_t>(index), 0, &st) != 0 ||
      !(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_SIZE))
    throw FormatError(path, std::nullopt, std::string(name) + ": its size cannot be read");
  if (st.size > kBombFloor && st.size > kMaxExpansion * st.comp_size)
    throw FormatError(path, std::nullopt,
                      std::string(name) + " expands from " + std::to_string(st.comp_size) + " to " +
                          std::to_string(st.size) + " bytes (more than 100 times: a zip bomb?)");
  return st;
}

// Streams member st of z to write(bytes, n); throws FormatError when it ends early or fails its
// checksum (libzip checks the CRC at the end of the data).
template <class Write>
void read_member(zip_t* z, const zip_stat_t& st, const std::string& path, Write write) {
  std::unique_ptr<zip_file_t, FileCloser> f(zip_fopen_index(z, st.index, 0));
  if (!f)
    throw FormatError(path, std::nullopt,
                      std::string(st.name) + " cannot be read: " + zip_strerror(z));
  std::vector<char> buf(1 << 20);
  zip_uint64_t total = 0;
  for (;;) {
    const zip_int64_t n = zip_fread(f.get(), buf.data(), buf.size());
    if (n < 0)
      throw FormatError(path, std::nullopt,
                        std::string(st.name) + " is damaged: " + zip_file_strerror(f.get()));
    if (n == 0) break;
    total += static_cast<zip_uint64_t>(n);
    if (total > st.size)
      throw FormatError(path, std::nullopt,
                        std::string(st.name) + " holds more than its declared size");
    write(buf.data(), static_cast<std::size_t>(n));
  }
  if (total != st.size)
    throw FormatError(path, std::nullopt,
                      std::string(st.name) + " ends after " + std::to_string(total) + " of " +
                          std::to_string(st.size) + " bytes");
}

}  // namespace

KerasArchive::KerasArchive(const std::string& path) : path_(path) {
  (void)InputFile(path).size();  // a regular file that can be read (InputError otherwise)
  int err = 0;
  std::unique_ptr<zip_t, ZipCloser> z(zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &err));
  if (!z) {
    zip_error_t e;
    zip_error_init_with_code(&e, err);
    const std::string why = zip_error_strerror(&e);
    zip_error_fini(&e);
    throw FormatError(path, std::nullopt,
                      "not a zip archive, which a Keras 3 .keras file is (" + why + ")");
  }
  const zip_stat_t cfg = member(z.get(), "config.json", path, "; not a Keras 3 .keras file");
  if (cfg.size > kMaxConfig) throw FormatError(path, std::nullopt, "config.json is over 64 MiB");
  std::string text;
  read_member(z.get(), cfg, path, [&](const char* p, std::size_t n) { text.append(p, n); });
  config_ = parse_json(text, path + "/config.json");
  if (zip_name_locate(z.get(), "model.weights.npz", 0) >= 0 &&
      zip_name_locate(z.get(), "model.weights.h5", 0) < 0)
    throw FormatError(path, std::nullopt,
                      "the weights are in .npz form (model.weights.npz); save the model with "
                      "its weights in HDF5 form (the default)");
  const zip_stat_t w = member(z.get(), "model.weights.h5", path, "; not a Keras 3 .keras file");
  // model.weights.h5 in a private temporary folder.
  std::string dir = (std::filesystem::temp_directory_path() / "cnn-keras-XXXXXX").string();
  if (!::mkdtemp(dir.data())) throw IoError(dir, "create a temporary folder", errno);
  temp_dir_ = dir;
  weights_path_ = dir + "/model.weights.h5";
  try {
    // A private scratch copy: written with write_fully, not an AtomicFile, since nothing needs
    // it to survive a crash (no fsync, no rename).
    const int fd = ::open(weights_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) throw IoError(weights_path_, "create", errno);
    const std::unique_ptr<const int, void (*)(const int*)> closer(
        &fd, [](const int* f) { ::close(*f); });
    read_member(z.get(), w, path, [&](const char* p, std::size_t n) {
      if (const int e = write_fully(fd, p, n)) throw IoError(weights_path_, "write", e);
    });
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove_all(temp_dir_, ignored);
    throw;
  }
}

KerasArchive::~KerasArchive() {
  std::error_code ignored;
  if (!temp_dir_.empty()) std::filesystem::remove_all(temp_dir_, ignored);
}

}  // namespace cnn::io
