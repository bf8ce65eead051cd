// The HDF5 C API's identifiers as values that close themselves, for the Keras HDF5 reader
// (keras_h5.cpp) and writer (keras_export.cpp). Internal to the importers' library.
#pragma once

#include <hdf5.h>

#include <utility>

namespace cnn::io {

// An HDF5 identifier closed by the matching H5*close when it goes out of scope.
class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, -1)), close_(o.close_) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

// HDF5 prints an error stack on stderr by default; the library reports through exceptions.
inline void silence_hdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

}  // namespace cnn::io
