// BatchNormalization layer: batch statistics in training, moving statistics in inference or
// when frozen; the full batch-norm backward.
#include "layers/batch_normalization.hpp"

#include <algorithm>
#include <cmath>

#include "kernels/threading.hpp"

namespace cnn {

void BatchNormalization::configure(ConfigReader& cfg) {
  const std::string axis_problem =
      "only the last (channel) axis is supported: -1 or its index counting the batch axis as 0 "
      "(3 for images)";
  if (const json* a = cfg.get_raw("axis")) {
    const json* v = a;
    if (a->is_array() && a->size() == 1) v = &a->front();
    if (!v->is_number_integer())
      throw cfg.error("axis", "expected an integer, got " + json_brief(*a));
    axis_ = v->get<long>();
    if (axis_ == 0 || axis_ < -1)
      throw cfg.error("axis", axis_problem + ", got " + std::to_string(axis_));
  } else {
    axis_ = -1;
  }
  momentum_ = cfg.get_number("momentum", 0.99, 0.0, 1.0);
  epsilon_ = cfg.get_number("epsilon", 1e-3);
  if (!(epsilon_ > 0.0))
    throw cfg.error("epsilon", "expected a number > 0, got " + json(epsilon_).dump());
  center_ = cfg.get_bool("center", true);
  scale_ = cfg.get_bool("scale", true);
  beta_init_ = init_from_name(cfg.get_choice("beta_initializer", "zeros", init_names()));
  gamma_init_ = init_from_name(cfg.get_choice("gamma_initializer", "ones", init_names()));
  moving_mean_init_ =
      init_from_name(cfg.get_choice("moving_mean_initializer", "zeros", init_names()));
  moving_variance_init_ =
      init_from_name(cfg.get_choice("moving_variance_initializer", "ones", init_names()));
}

void BatchNormalization::write_config(json_ordered& out) const {
  out["axis"] = axis_;
  out["momentum"] = momentum_;
  out["epsilon"] = epsilon_;
  out["center"] = center_;
  out["scale"] = scale_;
  out["beta_initializer"] = init_name(beta_init_);
  out["gamma_initializer"] = init_name(gamma_init_);
  out["moving_mean_initializer"] = init_name(moving_mean_init_);
  out["moving_variance_initializer"] = init_name(moving_variance_init_);
}

Shape BatchNormalization::infer_shape(const std::vector<Shape>& inputs) {
  if (inputs.size() != 1)
    throw shape_error("expected 1 input, got " + std::to_string(inputs.size()));
  const Shape& s = inputs[0];
  if (s.empty())
    throw shape_error("expected an input with a channel axis, got " + shape_str(s, true));
  if (axis_ != -1 && static_cast<std::size_t>(axis_) != s.size())
    throw shape_error("axis " + std::to_string(axis_) +
                      " is not supported: only the last (channel) axis is, -1 or " +
                      std::to_string(s.size()) + " for input " + shape_str(s, true));
  c_ = s.back();
  if (c_ == 0) throw shape_error("input " + shape_str(s, true) + " has no channels");
  params().clear();
  if (scale_) add_param("gamma", {c_}, gamma_init_);
  if (center_) add_param("beta", {c_}, beta_init_);
  add_param("moving_mean", {c_}, moving_mean_init_, false);
  add_param("moving_variance", {c_}, moving_variance_init_, false);
  return s;
}

Param* BatchNormalization::gamma() { return scale_ ? &params()[0] : nullptr; }
Param* BatchNormalization::beta() { return center_ ? &params()[scale_ ? 1 : 0] : nullptr; }
Param& BatchNormalization::moving_mean() { return params()[(scale_ ? 1 : 0) + (center_ ? 1 : 0)]; }
Param& BatchNormalization::moving_variance() {
  return params()[(scale_ ? 1 : 0) + (center_ ? 1 : 0) + 1];
}

// x [..., c] -> y [..., c] (rows = numel / c values per channel).
void BatchNormalization::forward(Context& ctx, Inputs in, Tensor& out) {
  const Tensor& x = *in[0];
  const float* xp = x.data();
  float* y = out.data();
  const std::size_t c = c_, rows = x.size() / c_;
  const Param* g = gamma();
  const Param* b = beta();
  float* mm = moving_mean().value;
  float* mv = moving_variance().value;
  if (rows == 0) return;
  mu_.resize(c);
  a_.resize(c);
  b_.resize(c);

  if (uses_batch_stats(ctx)) {
    // Two passes in double: the mean, then the squared deviations from it (more accurate
    // than E[x^2] - E[x]^2, which cancels badly when |mean| >> std).
    // Threads take whole channels (each channel's sums run over the rows in order, whatever
    // the thread count).
    // Shared statistics (Context::sum_over_processes): each pass's sums, and the rows, are
    // summed over the processes between the passes.
    const auto& share = ctx.sum_over_processes;
    sum_.assign(c + 1, 0.0);
    sum2_.assign(c, 0.0);
    kernels::parallel_for(0, c, [&](std::size_t j0, std::size_t j1) {
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t j = j0; j < j1; ++j) sum_[j] += xp[r * c + j];
    });
    sum_[c] = static_cast<double>(rows);
    if (share) share(sum_.data(), c + 1);
    rows_ = sum_[c];
    sum_.resize(c);
    for (std::size_t j = 0; j < c; ++j) sum_[j] /= rows_;
    kernels::parallel_for(0, c, [&](std::size_t j0, std::size_t j1) {
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t j = j0; j < j1; ++j) {
          const double d = xp[r * c + j] - sum_[j];
          sum2_[j] += d * d;
        }
    });
    if (share) share(sum2_.data(), c);
    ensure_shape(mean_, {c});
    ensure_shape(rstd_, {c});
    const double unbias = rows_ > 1 ? rows_ / (rows_ - 1) : 1.0;
    const double momentum = momentum_override_.value_or(momentum_);
    for (std::size_t j = 0; j < c; ++j) {
      const double mean = sum_[j];
      const double var = sum2_[j] / rows_;
      const double rstd = 1.0 / std::sqrt(var + epsilon_);
      mean_.data()[j] = static_cast<float>(mean);
      rstd_.data()[j] = static_cast<float>(rstd);
      mm[j] = static_cast<float>(mm[j] * momentum + mean * (1.0 - momentum));
      mv[j] = static_cast<float>(mv[j] * momentum + var * unbias * (1.0 - momentum));
      mu_[j] = mean_.data()[j];
      a_[j] = static_cast<float>((g ? g->value[j] : 1.0) * rstd);
      b_[j] = b ? b->value[j] : 0.0f;
    }
  } else {
    for (std::size_t j = 0; j < c; ++j) {
      mu_[j] = mm[j];
      a_[j] = static_cast<float>((g ? g->value[j] : 1.0) / std::sqrt(mv[j] + epsilon_));
      b_[j] = b ? b->value[j] : 0.0f;
    }
  }
  // Subtracting the mean before scaling (not x * a + (beta - mean * a)) avoids cancellation
  // when |mean| >> std.
  const float* mu = mu_.data();
  const float* a = a_.data();
  const float* bb = b_.data();
  kernels::parallel_for(0, rows, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r)
      for (std::size_t j = 0; j < c; ++j) y[r * c + j] = (xp[r * c + j] - mu[j]) * a[j] + bb[j];
  });
}

// x, dy [..., c] -> dx [..., c] += ...; dgamma, dbeta [c] += ... (see the header).
void BatchNormalization::backward(Context& ctx, Inputs in, const Tensor&, const Tensor& grad_out,
                                  GradInputs grad_in) {
  const Tensor& x = *in[0];
  const float* xp = x.data();
  const float* dy = grad_out.data();
  const std::size_t c = c_, rows = x.size() / c_;
  Param* g = gamma();
  Param* b = beta();
  float* dx = !grad_in.empty() && grad_in[0] ? grad_in[0]->data() : nullptr;
  const bool batch = uses_batch_stats(ctx);
  // Frozen, and no input gradient wanted: nothing to add.
  if (rows == 0 || (!dx && !wants_param_grads())) return;
  if (batch && mean_.size() != c)
    throw Error("layer '" + name() + "' (BatchNormalization): training backward without a " +
                "training forward");

  // The mean and rstd this mode normalised with.
  const float* mean = batch ? mean_.data() : moving_mean().value;
  const float* rstd = rstd_.data();
  if (!batch) {
    const float* mv = moving_variance().value;
    rstd_moving_.resize(c);
    for (std::size_t j = 0; j < c; ++j)
      rstd_moving_[j] = static_cast<float>(1.0 / std::sqrt(mv[j] + epsilon_));
    rstd = rstd_moving_.data();
  }
  // sum_ = sum dy, sum2_ = sum dy * xhat.
  sum_.assign(c, 0.0);
  sum2_.assign(c, 0.0);
  kernels::parallel_for(0, c, [&](std::size_t j0, std::size_t j1) {
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t j = j0; j < j1; ++j) {
        const std::size_t i = r * c + j;
        const double xhat = static_cast<double>(xp[i] - mean[j]) * rstd[j];
        sum_[j] += dy[i];
        sum2_[j] += dy[i] * xhat;
      }
  });
  if (wants_param_grads()) {
    if (g && g->grad)
      for (std::size_t j = 0; j < c; ++j) g->grad[j] += static_cast<float>(sum2_[j]);
    if (b && b->grad)
      for (std::size_t j = 0; j < c; ++j) b->grad[j] += static_cast<float>(sum_[j]);
  }
  // Shared statistics: the input gradient needs the whole batch's sums (the parameters' own
  // are summed over the processes with every other gradient).
  if (batch && ctx.sum_over_processes) {
    sum_.insert(sum_.end(), sum2_.begin(), sum2_.end());
    ctx.sum_over_processes(sum_.data(), 2 * c);
    std::copy(sum_.begin() + static_cast<std::ptrdiff_t>(c), sum_.end(), sum2_.begin());
    sum_.resize(c);
  }
  if (!dx) return;
  if (!batch) {
    // The moving statistics are constants here: a per-channel affine map.
    kernels::parallel_for(0, rows, [&](std::size_t r0, std::size_t r1) {
      for (std::size_t r = r0; r < r1; ++r)
        for (std::size_t j = 0; j < c; ++j)
          dx[r * c + j] += dy[r * c + j] * ((g ? g->value[j] : 1.0f) * rstd[j]);
    });
    return;
  }
  const double inv_m = 1.0 / rows_;
  kernels::parallel_for(0, rows, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r)
      for (std::size_t j = 0; j < c; ++j) {
        const std::size_t i = r * c + j;
        const double xhat = static_cast<double>(xp[i] - mean[j]) * rstd[j];
        const double k = static_cast<double>(g ? g->value[j] : 1.0f) * rstd[j];
        dx[i] += static_cast<float>(k * (dy[i] - sum_[j] * inv_m - xhat * sum2_[j] * inv_m));
      }
  });
}

}  // namespace cnn
