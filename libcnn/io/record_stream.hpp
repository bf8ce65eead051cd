// The record stream (DESIGN.md "Record stream", share/record-stream.md): the format that flows
// through pipes between programs. A fixed preamble (magic, version, header length), a JSON
// header (record shape, dtype, label kind, class names, count or null), then fixed-size
// records, each an int32 label followed by the sample in HWC order. Little-endian throughout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tensor/tensor.hpp"

namespace cnn::io {

// "\x89CNNREC\n": a high-bit byte catches 7-bit channels, the newline text-mode translation.
inline constexpr char kRecordMagic[8] = {'\x89', 'C', 'N', 'N', 'R', 'E', 'C', '\n'};
inline constexpr std::uint32_t kRecordVersion = 1;
// Largest JSON header a reader accepts (class names of ImageNet fit easily).
inline constexpr std::uint32_t kMaxRecordHeader = 16u << 20;

enum class RecordDtype { uint8, float32 };

struct RecordHeader {
  Shape shape;  // {h, w, c}, or {k} for feature vectors
  RecordDtype dtype = RecordDtype::float32;
  std::vector<std::string> classes;    // label k means classes[k]
  std::string class_mode = "sparse";   // binary, categorical or sparse (how to train on labels)
  std::optional<std::uint64_t> count;  // records that follow; nullopt: unknown (endless)
  // The factor a reader multiplies values by unless told otherwise (the producer's rescale,
  // carried to the consumer: e.g. 1/255 for raw pixels meant to be read as 0..1); nullopt: 1.
  std::optional<float> rescale;

  std::size_t sample_numel() const { return numel(shape); }
  // Bytes of one record: 4 (label) + numel * (1 or 4).
  std::size_t record_bytes() const;
};

const char* dtype_name(RecordDtype d);

// Writes a stream to a file descriptor (stdout: 1) or a file (atomically: a temporary file
// renamed into place by finish()). Buffered; write() throws BrokenPipe when the reader has
// closed the pipe (EPIPE; SIGPIPE must be ignored by the program), IoError for other failures.
class RecordWriter {
 public:
  // To an open descriptor (not closed by the writer). Writes the header at once.
  RecordWriter(int fd, RecordHeader header, std::string name = "<stdout>");
  // To a file path, atomically (temporary file + rename); "-" means stdout; an existing
  // device or FIFO (/dev/null) is written directly.
  RecordWriter(const std::string& path, RecordHeader header);
  ~RecordWriter();
  RecordWriter(const RecordWriter&) = delete;
  RecordWriter& operator=(const RecordWriter&) = delete;

  const RecordHeader& header() const { return header_; }
  // One record: label and sample_numel() floats (uint8 streams round and clamp to 0..255).
  void write(std::int32_t label, const float* x);
  // Flushes the buffer to the descriptor.
  void flush();
  // Flushes; for a file, checks the count, fsyncs and renames into place.
  void finish();
  std::uint64_t written() const { return written_; }

 private:
  void put(const void* p, std::size_t n);
  void start();

  RecordHeader header_;
  int fd_ = -1;
  bool own_fd_ = false, finished_ = false, direct_ = false;
  std::string name_, path_, tmp_path_;
  std::vector<std::uint8_t> buf_;
  std::uint64_t written_ = 0;
};

// The reader closed the pipe: a normal end for a producer.
class BrokenPipe : public std::runtime_error {
 public:
  BrokenPipe() : std::runtime_error("the reader closed the pipe") {}
};

// Reads a stream from a file or stdin ("-"). Checks the magic, the version (a newer one is
// refused), the header's JSON and fields, and every record (a truncated one names its index
// and byte offset). Throws InputError for a missing file, FormatError(name, offset, ...) for
// bad bytes.
class RecordReader {
 public:
  explicit RecordReader(const std::string& path);
  ~RecordReader();
  RecordReader(const RecordReader&) = delete;
  RecordReader& operator=(const RecordReader&) = delete;

  const RecordHeader& header() const { return header_; }
  const std::string& name() const { return name_; }
  // Reads the next record's raw bytes (record_bytes() of them) into rec; false at a clean end
  // (after exactly count records when the header gives one). Throws FormatError for a
  // truncated record, for fewer or more records than the count, and for a label below 0 or not
  // below the number of classes.
  bool next(std::vector<std::uint8_t>& rec);
  // Records read so far.
  std::uint64_t records() const { return records_; }
  // Stops reading (closes the descriptor, so a producer sees a closed pipe).
  void close();

 private:
  std::size_t read_some(void* p, std::size_t n);  // reads up to n bytes; fewer only at EOF
  void read_header();  // the preamble and header, checked against the file's size
  RecordHeader header_;
  std::string name_;
  int fd_ = -1;
  bool own_fd_ = false;
  std::uint64_t offset_ = 0, records_ = 0, data_start_ = 0;
};

// Decodes one record's bytes: its label and sample_numel() floats (uint8 values as 0..255).
std::int32_t decode_record(const RecordHeader& h, const std::uint8_t* rec, float* out);

// The header JSON and its parser (used by the reader; exposed for tests and tools).
std::string header_json(const RecordHeader& h);
RecordHeader parse_header_json(const std::string& text, const std::string& name,
                               std::uint64_t offset);

}  // namespace cnn::io
