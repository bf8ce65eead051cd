// See import_job.hpp.
#include "io/import_job.hpp"

#include <filesystem>
#include <optional>

#include "io/architecture.hpp"
#include "io/import.hpp"
#include "io/keras_archive.hpp"
#include "io/keras_model.hpp"
#include "tensor/error.hpp"
#include "tensor/rng.hpp"

namespace cnn::io {

namespace {

// The model of a Keras to_json() text (read from file), with its weights from the Keras HDF5
// file `weights` ("": none given, an error once the architecture has been checked).
Model keras_with_h5_weights(const json& keras, const std::string& file, const std::string& weights,
                            const ImportJob& job, ImportResult& r) {
  const KerasModel k = keras_architecture(keras, file);
  r.notes = k.imported.notes;
  Model m = Model::from_json(json(k.imported.architecture), file);
  check_softmax_axes(m, k, file);
  if (weights.empty())
    throw InputError(file,
                     "the file holds only the architecture; give its weights with --weights "
                     "W.h5 (Keras save_weights)");
  Rng rng(job.seed);
  m.init_params(rng);
  r.weights = import_keras_h5(m, weights, job.keras_h5);
  return m;
}

// A Keras model file: a whole-model .h5, a TensorFlow.js model.json (architecture and weights), or
// a to_json() architecture with --weights.
Model import_keras(const ImportJob& job, ImportResult& r) {
  const std::string ext = std::filesystem::path(job.source).extension().string();
  if (ext == ".keras") {
    // Keras 3's archive: config.json, and model.weights.h5 in Keras 3's layout.
    if (!job.weights.empty())
      throw InputError(job.weights,
                       "a .keras archive brings its own weights; --weights is for a "
                       "model.to_json() file");
    const KerasArchive archive(job.source);
    ImportJob keras3 = job;
    keras3.keras_h5.keras3_groups = keras3_weight_groups(archive.config());
    keras3.keras_h5.shown = archive.weights_name();  // the member, not the temporary copy
    return keras_with_h5_weights(archive.config(), job.source, archive.weights_path(), keras3, r);
  }
  if (ext == ".h5" || ext == ".hdf5") {
    // A whole-model file (model.save('m.h5')): the architecture in model_config, the weights
    // under /model_weights (or in --weights).
    const std::string config = read_keras_h5_model_config(job.source);
    if (config.empty())
      throw InputError(job.source,
                       "holds weights but no model_config (a save_weights() file); give the "
                       "architecture: cnn-import keras MODEL.json --weights " +
                           job.source);
    return keras_with_h5_weights(parse_json(config, job.source), job.source,
                                 job.weights.empty() ? job.source : job.weights, job, r);
  }
  const json j = read_json(job.source);
  if (is_tfjs_model(j)) {
    if (!job.weights.empty())
      throw InputError(job.weights,
                       "a TensorFlow.js model.json brings its own weights; --weights is for "
                       "a model.to_json() file");
    const KerasModel k = import_tfjs_model(j, job.source);
    r.notes = k.imported.notes;
    Model m = build_imported(k.imported, job.source);
    check_softmax_axes(m, k, job.source);
    for (const auto& np : m.named_params()) r.weights.loaded.push_back(np.name);
    return m;
  }
  return keras_with_h5_weights(j, job.source, job.weights, job, r);
}

}  // namespace

ImportResult run_import(const ImportJob& job) {
  check_output_directory(job.output, job.overwrite);
  ImportResult r;
  std::optional<Model> model;
  std::vector<std::string> class_names;
  if (job.format == ImportFormat::onnx) {
    const ImportedModel im = import_onnx(job.source, job.onnx);
    r.notes = im.notes;
    class_names = im.class_names;
    model.emplace(build_imported(im, job.source));
    for (const auto& np : model->named_params()) r.weights.loaded.push_back(np.name);
  } else if (job.format == ImportFormat::keras) {
    model.emplace(import_keras(job, r));
  } else {
    model.emplace(load_model(job.model));
    Rng rng(job.seed);
    model->init_params(rng);
    if (job.format == ImportFormat::npy)
      r.weights = import_npy(*model, job.source, job.map, job.npy);
    else
      r.weights = import_keras_h5(*model, job.source, job.keras_h5);
  }
  if (!job.classes.empty()) {
    class_names = read_class_names(job.classes, &*model);
  } else if (!class_names.empty() && class_names.size() != numel(model->output_shape())) {
    r.notes.push_back("the file's " + std::to_string(class_names.size()) +
                      " class names do not match the model's " +
                      std::to_string(numel(model->output_shape())) + " outputs; not written");
    class_names.clear();
  }
  write_import(*model, job.output, job.overwrite, class_names);
  r.model_name = model->name();
  r.layers = model->size();
  r.params = model->param_count();
  return r;
}

}  // namespace cnn::io
