// RecordStreamDataset: records held in memory as the stream's bytes.
#include "data/record_stream_dataset.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "tensor/budget.hpp"
#include "tensor/error.hpp"

namespace cnn::data {

bool is_record_stream_spec(const std::string& spec) {
  if (spec == "-") return true;
  const std::filesystem::path p(spec);
  if (p.extension() == ".cnnrec") return true;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(p, ec)) return false;
  std::ifstream in(spec, std::ios::binary);
  char magic[8] = {};
  in.read(magic, 8);
  return in.gcount() == 8 && std::memcmp(magic, io::kRecordMagic, 8) == 0;
}

RecordStreamDataset::RecordStreamDataset(const std::string& path, const DatasetOptions& options)
    : mode_(options.class_mode) {
  io::RecordReader reader(path);
  name_ = reader.name();
  header_ = reader.header();
  rescale_ = options.rescale.value_or(default_rescale());
  if (options.subset != Subset::all)
    throw DataError(name_,
                    "validation_split does not apply to a record stream (it can be read "
                    "only once); give validation data separately");
  if (!options.classes.empty() && options.classes != header_.classes)
    throw DataError(name_, "the stream's classes differ from the classes asked for");
  if (mode_ == ClassMode::binary && header_.classes.size() != 2)
    throw DataError(name_, "class_mode binary needs exactly 2 classes, the stream has " +
                               std::to_string(header_.classes.size()));
  std::uint64_t limit = 0;
  if (header_.count) {
    limit = *header_.count;
  } else if (options.stream_limit) {
    limit = *options.stream_limit;
  } else {
    throw DataError(name_,
                    "the stream is endless (its header has no count); give "
                    "--steps-per-epoch so that epochs * steps_per_epoch * batch_size "
                    "records are read");
  }
  // The records are held in memory: all of them must fit the budget before the first is read.
  check_memory(limit, header_.record_bytes(),
               name_ + ": " + std::to_string(limit) + " records of " +
                   std::to_string(header_.record_bytes()) + " bytes held in memory");
  std::vector<std::uint8_t> rec;
  while (labels_.size() < limit && reader.next(rec)) {
    data_.insert(data_.end(), rec.begin(), rec.end());
    labels_.push_back(static_cast<std::int32_t>(rec[0] | rec[1] << 8 | rec[2] << 16 |
                                                static_cast<std::uint32_t>(rec[3]) << 24));
  }
  // An endless stream is closed here: the producer sees EPIPE and ends.
  reader.close();
  if (labels_.empty()) throw DataError(name_, "the stream holds no records");
  if (!header_.count && options.stream_epochs > 1)
    block_ = std::max<std::size_t>(1, labels_.size() / options.stream_epochs);
}

std::string RecordStreamDataset::sample_name(std::size_t index) const {
  return name_ + "[" + std::to_string(index) + "]";
}

void RecordStreamDataset::load(std::size_t index, float* out, std::int32_t& label,
                               std::uint64_t) const {
  const std::size_t rb = header_.record_bytes();
  label = io::decode_record(header_, data_.data() + index * rb, out);
  if (rescale_ != 1.0f)
    for (std::size_t i = 0, n = header_.sample_numel(); i < n; ++i) out[i] *= rescale_;
}

}  // namespace cnn::data
