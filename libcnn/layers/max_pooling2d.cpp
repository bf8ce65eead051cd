// MaxPooling2D: the pooling mode and the type name; the rest is in base_pooling2d.cpp.
#include "layers/max_pooling2d.hpp"

namespace cnn {

MaxPooling2D::MaxPooling2D() : detail::WindowPool2D(detail::PoolMode::Max) {}

std::string MaxPooling2D::type() const { return "MaxPooling2D"; }

}  // namespace cnn
