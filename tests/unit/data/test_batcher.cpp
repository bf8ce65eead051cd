// The Batcher: seeded per-epoch shuffles, partial batches, steps_per_epoch, byte-identical
// output for any thread count, worker exceptions on the consumer thread, clean shutdown.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "data/batcher.hpp"
#include "io/image.hpp"
#include "io/temp_dir.hpp"
#include "tensor/error.hpp"

using cnn::data::Batch;
using cnn::data::Batcher;
using cnn::data::BatcherOptions;
using cnn::data::ClassMode;

namespace {

// n samples of shape 2x3x1 whose values encode the index and the seed; label = index % 3.
// fail_at makes load() throw for that index; delay_us slows each load down.
class FakeDataset : public cnn::data::Dataset {
 public:
  explicit FakeDataset(std::size_t n, std::optional<std::size_t> fail_at = {}, int delay_us = 0)
      : n_(n), fail_at_(fail_at), delay_us_(delay_us) {}
  std::size_t size() const override { return n_; }
  cnn::Shape sample_shape() const override { return {2, 3, 1}; }
  const std::vector<std::string>& class_names() const override { return names_; }
  ClassMode class_mode() const override { return ClassMode::sparse; }
  std::int32_t label(std::size_t i) const override { return static_cast<std::int32_t>(i % 3); }
  std::string sample_name(std::size_t i) const override {
    return "fake[" + std::to_string(i) + "]";
  }
  void load(std::size_t i, float* out, std::int32_t& label, std::uint64_t seed) const override {
    if (delay_us_) std::this_thread::sleep_for(std::chrono::microseconds(delay_us_));
    ++loads;
    if (fail_at_ && i == *fail_at_) throw cnn::DataError(sample_name(i), "cannot be read");
    for (std::size_t k = 0; k < 6; ++k) out[k] = static_cast<float>(i * 10 + k);
    out[5] = static_cast<float>(seed % 1000003);
    label = this->label(i);
  }
  mutable std::atomic<std::size_t> loads{0};

 private:
  std::size_t n_;
  std::optional<std::size_t> fail_at_;
  int delay_us_;
  std::vector<std::string> names_{"a", "b", "c"};
};

// Every batch of one epoch, flattened: x values, labels, indices, sizes.
struct EpochData {
  std::vector<float> x;
  std::vector<std::int32_t> labels;
  std::vector<std::size_t> indices, sizes;
  bool operator==(const EpochData&) const = default;
};

EpochData run_epoch(Batcher& b, std::size_t epoch) {
  EpochData d;
  Batch batch;
  b.start_epoch(epoch);
  while (b.next(batch)) {
    CHECK(batch.epoch == epoch);
    CHECK(batch.step == d.sizes.size());
    CHECK(batch.x.shape(0) == batch.size);
    d.x.insert(d.x.end(), batch.x.data(), batch.x.data() + batch.x.size());
    d.labels.insert(d.labels.end(), batch.labels.begin(), batch.labels.end());
    d.indices.insert(d.indices.end(), batch.indices.begin(), batch.indices.end());
    d.sizes.push_back(batch.size);
  }
  return d;
}

}  // namespace

TEST_CASE("batcher: every index once per epoch, partial last batch, reproducible order") {
  FakeDataset ds(10);
  BatcherOptions o;
  o.batch_size = 4;
  o.seed = 42;
  Batcher b(ds, o);
  CHECK(b.steps_per_epoch() == 3);
  const EpochData e0 = run_epoch(b, 0);
  CHECK(e0.sizes == std::vector<std::size_t>{4, 4, 2});
  CHECK(std::set<std::size_t>(e0.indices.begin(), e0.indices.end()).size() == 10);
  for (std::size_t i = 0; i < 10; ++i) {
    CHECK(e0.labels[i] == static_cast<std::int32_t>(e0.indices[i] % 3));
    CHECK(e0.x[i * 6] == static_cast<float>(e0.indices[i] * 10));
  }
  const EpochData e1 = run_epoch(b, 1);
  CHECK(e1.indices != e0.indices);  // a new permutation each epoch
  CHECK(b.epoch_order(0) == e0.indices);

  Batcher again(ds, o);
  CHECK(run_epoch(again, 1) == e1);  // epoch 1's order needs no epoch 0 (resume)
  CHECK(run_epoch(again, 0) == e0);

  o.seed = 43;
  Batcher other(ds, o);
  CHECK(run_epoch(other, 0).indices != e0.indices);

  o.shuffle = false;
  Batcher ordered(ds, o);
  const EpochData plain = run_epoch(ordered, 5);
  for (std::size_t i = 0; i < 10; ++i) CHECK(plain.indices[i] == i);
}

TEST_CASE("batcher: identical batches for any thread count and prefetch depth") {
  FakeDataset ds(37);
  BatcherOptions o;
  o.batch_size = 5;
  o.seed = 7;
  o.threads = 0;
  Batcher sync(ds, o);
  const EpochData ref0 = run_epoch(sync, 0);
  const EpochData ref3 = run_epoch(sync, 3);
  for (std::size_t threads : {1, 2, 4, 7}) {
    for (std::size_t prefetch : {2, 3}) {
      CAPTURE(threads);
      CAPTURE(prefetch);
      o.threads = threads;
      o.prefetch = prefetch;
      Batcher b(ds, o);
      CHECK(run_epoch(b, 0) == ref0);
      CHECK(run_epoch(b, 3) == ref3);
    }
  }
}

TEST_CASE("batcher: shards are the one-process epoch, split by samples or by batches") {
  // 37 samples in batches of 5 (the last of 2), 1 to 4 shards: more shards than a batch's
  // samples leaves some parts empty. By samples, every batch's parts, in rank order, are its
  // one-process samples, augmentation seeds included; by batches, the shards' batches, in rank
  // order, are the one-process epoch.
  FakeDataset ds(37);
  BatcherOptions o;
  o.batch_size = 5;
  o.seed = 11;
  for (std::size_t threads : {0, 2}) {
    o.threads = threads;
    o.shard_count = 1;
    o.shard_rank = 0;
    o.shard_by_batches = false;
    Batcher one(ds, o);
    const EpochData ref = run_epoch(one, 2);
    for (std::size_t k : {1, 2, 3, 4}) {
      CAPTURE(threads);
      CAPTURE(k);
      // By samples: batch b of the one-process epoch, from each shard's part of it.
      std::vector<EpochData> parts(k);
      std::vector<std::vector<std::size_t>> firsts(k);
      for (std::size_t r = 0; r < k; ++r) {
        o.shard_count = k;
        o.shard_rank = r;
        o.shard_by_batches = false;
        Batcher b(ds, o);
        CHECK(b.steps_per_epoch() == 8);
        Batch batch;
        b.start_epoch(2);
        std::size_t step = 0;
        while (b.next(batch)) {
          CHECK(batch.step == step++);
          CHECK(batch.batch_samples == ref.sizes[batch.step]);
          CHECK(batch.first == batch.batch_samples * r / k);
          CHECK(batch.size == batch.batch_samples * (r + 1) / k - batch.first);
          parts[r].x.insert(parts[r].x.end(), batch.x.data(), batch.x.data() + batch.x.size());
          parts[r].indices.insert(parts[r].indices.end(), batch.indices.begin(),
                                  batch.indices.end());
          parts[r].sizes.push_back(batch.size);
        }
        CHECK(step == 8);
      }
      EpochData joined;
      std::vector<std::size_t> at(k, 0);
      for (std::size_t step = 0; step < 8; ++step)
        for (std::size_t r = 0; r < k; ++r) {
          const std::size_t n = parts[r].sizes[step];
          joined.indices.insert(joined.indices.end(), parts[r].indices.begin() + at[r],
                                parts[r].indices.begin() + at[r] + n);
          joined.x.insert(joined.x.end(), parts[r].x.begin() + at[r] * 6,
                          parts[r].x.begin() + (at[r] + n) * 6);
          at[r] += n;
        }
      CHECK(joined.indices == ref.indices);
      CHECK(joined.x == ref.x);  // the same samples with the same seeds

      // By batches: contiguous ranges of whole batches.
      EpochData whole;
      for (std::size_t r = 0; r < k; ++r) {
        o.shard_rank = r;
        o.shard_by_batches = true;
        Batcher b(ds, o);
        CHECK(b.first_step() == 8 * r / k);
        CHECK(b.end_step() == 8 * (r + 1) / k);
        Batch batch;
        b.start_epoch(2);
        std::size_t step = b.first_step();
        while (b.next(batch)) {
          CHECK(batch.step == step++);
          CHECK(batch.size == ref.sizes[batch.step]);
          whole.x.insert(whole.x.end(), batch.x.data(), batch.x.data() + batch.x.size());
          whole.indices.insert(whole.indices.end(), batch.indices.begin(), batch.indices.end());
        }
        CHECK(step == b.end_step());
      }
      CHECK(whole.indices == ref.indices);
      CHECK(whole.x == ref.x);
    }
  }
  o.shard_count = 2;
  o.shard_rank = 2;
  CHECK_THROWS_AS(Batcher(ds, o), cnn::InputError);
}

TEST_CASE("batcher: steps_per_epoch stops early and start_epoch restarts mid-epoch") {
  FakeDataset ds(20);
  BatcherOptions o;
  o.batch_size = 3;
  o.threads = 2;
  o.steps_per_epoch = 2;
  Batcher b(ds, o);
  CHECK(b.steps_per_epoch() == 2);
  CHECK(b.samples_per_epoch() == 6);
  CHECK(run_epoch(b, 0).sizes == std::vector<std::size_t>{3, 3});

  o.steps_per_epoch = 100;  // more than there are: every batch
  Batcher all(ds, o);
  CHECK(all.steps_per_epoch() == 7);

  o.steps_per_epoch.reset();
  Batcher restart(ds, o);
  Batch batch;
  restart.start_epoch(0);
  REQUIRE(restart.next(batch));
  const EpochData full = run_epoch(restart, 0);  // abandons the first try
  CHECK(full.sizes.size() == 7);
  CHECK(full.indices == restart.epoch_order(0));
}

TEST_CASE("batcher: a worker's exception surfaces in next() for its batch") {
  FakeDataset ds(12, std::size_t{5});
  for (std::size_t threads : {0, 1, 3}) {
    CAPTURE(threads);
    BatcherOptions o;
    o.batch_size = 4;
    o.shuffle = false;
    o.threads = threads;
    Batcher b(ds, o);
    Batch batch;
    REQUIRE(b.next(batch));  // samples 0..3 are fine
    CHECK(batch.indices.front() == 0);
    try {
      b.next(batch);
      FAIL("no throw");
    } catch (const cnn::DataError& e) {
      CHECK(std::string(e.what()) == "fake[5]: cannot be read");
    }
    CHECK_THROWS_AS(b.next(batch), cnn::DataError);  // the epoch stays failed
  }
}

TEST_CASE("batcher: destroying mid-epoch stops the workers") {
  FakeDataset ds(400, std::nullopt, 200);
  BatcherOptions o;
  o.batch_size = 8;
  o.threads = 3;
  o.prefetch = 2;
  {
    Batcher b(ds, o);
    Batch batch;
    REQUIRE(b.next(batch));
  }
  // At most the batch taken plus the ring ahead were decoded, not the whole epoch.
  CHECK(ds.loads.load() <= 8 * 3 + 3);
  { Batcher idle(ds, o); }  // never started
}

TEST_CASE("batcher: an empty dataset has no batches, batch_size 0 is refused") {
  FakeDataset empty(0);
  Batcher b(empty, BatcherOptions{});
  Batch batch;
  CHECK(b.steps_per_epoch() == 0);
  CHECK_FALSE(b.next(batch));
  BatcherOptions o;
  o.batch_size = 0;
  CHECK_THROWS_AS(Batcher(empty, o), cnn::InputError);
}

TEST_CASE("batcher: a folder dataset batches identically with and without threads") {
  cnn::test::TempDir tmp;
  for (const char* cls : {"a", "b"}) {
    std::filesystem::create_directories(tmp.dir() / cls);
    for (char i = '0'; i < '7'; ++i) {
      cnn::io::Image img(5 + static_cast<std::size_t>(i - '0'), 6, 3);
      for (std::size_t k = 0; k < img.data.size(); ++k)
        img.data[k] = static_cast<std::uint8_t>(k * 7 + static_cast<std::size_t>(i) * 13);
      cnn::io::write_png((tmp.dir() / cls / (std::string("x") + i + ".png")).string(), img);
    }
  }
  cnn::data::DatasetOptions d;
  d.target_h = 4;
  d.target_w = 4;
  d.interpolation = cnn::io::Interpolation::bilinear;
  d.rescale = 1.0f / 255.0f;
  const cnn::data::DirectoryDataset ds(tmp.dir().string(), d);
  BatcherOptions o;
  o.batch_size = 4;
  o.seed = 3;
  o.threads = 0;
  Batcher sync(ds, o);
  o.threads = 2;
  Batcher threaded(ds, o);
  const EpochData ref = run_epoch(sync, 2);
  CHECK(ref.sizes == std::vector<std::size_t>{4, 4, 4, 2});
  CHECK(run_epoch(threaded, 2) == ref);
}

TEST_CASE("labels_to_targets: one-hot, binary and sparse targets") {
  cnn::Tensor y;
  cnn::data::labels_to_targets({2, 0, 1}, 3, ClassMode::categorical, 3, y);
  CHECK(cnn::shape_of(y) == cnn::Shape{3, 3});
  CHECK(std::vector<float>(y.begin(), y.end()) == std::vector<float>{0, 0, 1, 1, 0, 0, 0, 1, 0});
  cnn::data::labels_to_targets({1, 0}, 2, ClassMode::binary, 2, y);
  CHECK(cnn::shape_of(y) == cnn::Shape{2, 1});
  CHECK(std::vector<float>(y.begin(), y.end()) == std::vector<float>{1, 0});
  cnn::data::labels_to_targets({4, 1}, 2, ClassMode::sparse, 5, y);
  CHECK(cnn::shape_of(y) == cnn::Shape{2});
  CHECK_THROWS_AS(cnn::data::labels_to_targets({3}, 1, ClassMode::categorical, 3, y),
                  cnn::DataError);
}

TEST_CASE("Batcher: a dataset with an epoch block gives every epoch its own samples") {
  // An endless record stream read ahead for 3 epochs of 4 samples: epoch e reads 4e..4e+3.
  class Blocks : public FakeDataset {
   public:
    Blocks() : FakeDataset(12) {}
    std::size_t epoch_block() const override { return 4; }
  } ds;
  for (const bool shuffle : {false, true}) {
    Batcher b(ds, BatcherOptions{2, shuffle, 7, 1, 2, std::nullopt});
    CHECK(b.steps_per_epoch() == 2);
    for (std::size_t e = 0; e < 4; ++e) {
      b.start_epoch(e);
      std::set<std::size_t> seen;
      Batch batch;
      while (b.next(batch))
        for (std::size_t i = 0; i < batch.size; ++i) seen.insert(batch.indices[i]);
      const std::size_t first = 4 * (e % 3);  // a fourth epoch wraps around
      CHECK(seen == std::set<std::size_t>{first, first + 1, first + 2, first + 3});
    }
  }
}
