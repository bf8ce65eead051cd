#include "common/data_flags.hpp"

namespace cnn::cmd {

void DataFlags::add_to(CLI::App& app, const std::string& rescale_help) {
  app.add_option("--target-size", target_size, "Resize images to H W")->expected(2);
  app.add_option("--color-mode", color_mode, "rgb or grayscale");
  app.add_option("--interpolation", interpolation, "nearest or bilinear");
  app.add_option("--rescale", rescale, rescale_help);
}

void DataFlags::apply(json& overrides) const {
  if (!target_size.empty()) overrides["target_size"] = target_size;
  if (color_mode) overrides["color_mode"] = *color_mode;
  if (interpolation) overrides["interpolation"] = *interpolation;
  if (rescale) overrides["rescale"] = *rescale;
}

}  // namespace cnn::cmd
