// GlobalMaxPooling2D: the pooling mode and the type name; the rest is in base_pooling2d.cpp.
#include "layers/global_max_pooling2d.hpp"

namespace cnn {

GlobalMaxPooling2D::GlobalMaxPooling2D() : detail::GlobalPool2D(detail::PoolMode::Max) {}

std::string GlobalMaxPooling2D::type() const { return "GlobalMaxPooling2D"; }

}  // namespace cnn
