// Enum <-> name tables (tensor/names.hpp) and the four built on them: every name parses to a
// value whose name it is, every value has a name, and unknown names are refused.
#include <doctest/doctest.h>

#include "kernels/activation.hpp"
#include "kernels/window.hpp"
#include "layers/layer.hpp"
#include "tensor/names.hpp"
#include "train/loss.hpp"

using namespace cnn;

namespace {
enum class Colour { Red, Green, Blue };
// Deliberately not in the enum's order.
constexpr Named<Colour> kColours[] = {{Colour::Blue, "blue"}, {Colour::Red, "red"}};
}  // namespace

TEST_CASE("names: tables are keyed by name, not by position") {
  CHECK(names_of(kColours) == std::vector<std::string>{"blue", "red"});
  CHECK(value_named(kColours, "red") == Colour::Red);
  CHECK(value_named(kColours, "blue") == Colour::Blue);
  CHECK_FALSE(value_named(kColours, "green").has_value());
  CHECK(std::string(name_of(kColours, Colour::Red)) == "red");
  CHECK_THROWS_AS(name_of(kColours, Colour::Green), std::logic_error);
}

TEST_CASE("names: activations, paddings, initialisers and losses round-trip") {
  for (const std::string& n : kernels::act_names())
    CHECK(kernels::act_name(kernels::act_from_name(n)) == n);
  for (kernels::Act a :
       {kernels::Act::Linear, kernels::Act::Relu, kernels::Act::Sigmoid, kernels::Act::Softmax,
        kernels::Act::Tanh, kernels::Act::Elu, kernels::Act::LeakyRelu})
    CHECK(kernels::act_from_name(kernels::act_name(a)) == a);
  for (const std::string& n : kernels::padding_names())
    CHECK(kernels::padding_name(kernels::padding_from_name(n)) == n);
  CHECK(kernels::padding_from_name("same") == kernels::Padding::Same);
  for (const std::string& n : init_names()) CHECK(init_name(init_from_name(n)) == n);
  for (Init i : {Init::Zeros, Init::Ones, Init::GlorotUniform, Init::GlorotNormal, Init::HeNormal,
                 Init::HeUniform})
    CHECK(init_from_name(init_name(i)) == i);
  for (const std::string& n : train::loss_names())
    CHECK(train::loss_name(train::loss_from_name(n)) == n);
  CHECK(train::loss_from_name("mse") == train::LossType::MeanSquaredError);
  CHECK_THROWS_AS(kernels::act_from_name("swish"), Error);
  CHECK_THROWS_AS(init_from_name("lecun_normal"), Error);
}
