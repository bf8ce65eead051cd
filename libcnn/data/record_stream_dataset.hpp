// A dataset read from a record stream (io/record_stream.hpp): a .cnnrec file or stdin ("-"),
// read once into memory when it is opened.
#pragma once

#include "data/dataset.hpp"
#include "io/record_stream.hpp"

namespace cnn::data {

// Samples are the stream's records in order, values multiplied by options.rescale (default 1:
// the producer already scaled them). Class names come from the header (options.classes, when
// given, must equal them); the class mode from options.
// A finite stream (header count) is read whole. An endless one (count null) needs
// options.stream_limit: that many records are read, then the stream is closed, which ends a
// producer like `cnn-augment --stream` cleanly. validation_split is refused (stdin can be
// read only once).
// Throws InputError/FormatError as io::RecordReader does, DataError for bad options.
class RecordStreamDataset : public Dataset {
 public:
  RecordStreamDataset(const std::string& path, const DatasetOptions& options);
  std::size_t size() const override { return labels_.size(); }
  Shape sample_shape() const override { return header_.shape; }
  const std::vector<std::string>& class_names() const override { return header_.classes; }
  ClassMode class_mode() const override { return mode_; }
  std::int32_t label(std::size_t index) const override { return labels_.at(index); }
  std::string sample_name(std::size_t index) const override;
  void load(std::size_t index, float* out, std::int32_t& label, std::uint64_t seed) const override;
  float default_rescale() const override { return header_.rescale.value_or(1.0f); }
  std::size_t epoch_block() const override { return block_; }

  const io::RecordHeader& header() const { return header_; }

 private:
  std::string name_;
  io::RecordHeader header_;
  ClassMode mode_;
  float rescale_;
  std::size_t block_ = 0;           // endless streams read for several epochs: records per epoch
  std::vector<std::uint8_t> data_;  // the records, record_bytes() each
  std::vector<std::int32_t> labels_;
};

// Whether spec names a record stream: "-", a name ending in .cnnrec, or a regular file that
// starts with the record magic.
bool is_record_stream_spec(const std::string& spec);

}  // namespace cnn::data
