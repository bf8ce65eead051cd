// See import_job.hpp.
#include "io/import_job.hpp"

#include <optional>

#include "io/architecture.hpp"
#include "io/import.hpp"
#include "tensor/rng.hpp"

namespace cnn::io {

ImportResult run_import(const ImportJob& job) {
  check_output_directory(job.output, job.overwrite);
  ImportResult r;
  std::optional<Model> model;
  if (job.format == ImportFormat::onnx) {
    const ImportedModel im = import_onnx(job.source, job.onnx);
    r.notes = im.notes;
    model.emplace(build_imported(im, job.source));
    for (const auto& np : model->named_params()) r.weights.loaded.push_back(np.name);
  } else {
    model.emplace(load_model(job.model));
    Rng rng(job.seed);
    model->init_params(rng);
    if (job.format == ImportFormat::npy)
      r.weights = import_npy(*model, job.source, job.map, job.npy);
    else
      r.weights = import_keras_h5(*model, job.source, job.keras_h5);
  }
  std::vector<std::string> class_names;
  if (!job.classes.empty()) class_names = read_class_names(job.classes, &*model);
  write_import(*model, job.output, job.overwrite, class_names);
  r.model_name = model->name();
  r.layers = model->size();
  r.params = model->param_count();
  return r;
}

}  // namespace cnn::io
