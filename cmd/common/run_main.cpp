// run_main: the single try/catch of every program, and the shared option group.
#include "common/run_main.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <iostream>
#include <map>
#include <new>
#include <sstream>
#include <thread>

#include "dist/comm.hpp"
#include "kernels/threading.hpp"
#include "tensor/budget.hpp"
#include "tensor/config.hpp"
#include "tensor/error.hpp"
#include "tensor/version.hpp"

namespace cnn::cmd {

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_sigint(int) { g_stop.store(true); }
}  // namespace

const std::atomic<bool>* stop_on_sigint() {
  std::signal(SIGINT, on_sigint);
  std::signal(SIGTERM, on_sigint);  // what Slurm and mpirun send before they kill a job
  return &g_stop;
}

std::size_t resolve_threads(int n) {
  if (n > 0) return static_cast<std::size_t>(n);
  const unsigned hw = std::thread::hardware_concurrency();
  return hw ? hw : 1;
}

CLI::Validator at_least(double min, std::optional<double> max) {
  const auto show = [](double v) {
    std::ostringstream o;
    o << v;
    return o.str();
  };
  std::string desc = ">= " + show(min) + (max ? " and <= " + show(*max) : "");
  return CLI::Validator(
      [min, max, show](std::string& text) -> std::string {
        double v = 0;
        std::size_t used = 0;
        try {
          v = std::stod(text, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != text.size() || !std::isfinite(v))
          return "expected a number, got '" + text + "'";
        if (v < min) return "must be at least " + show(min) + ", got " + text;
        if (max && v > *max) return "must be at most " + show(*max) + ", got " + text;
        return {};
      },
      desc);
}

void add_common_options(CLI::App& app, CommonOptions& opts) {
  app.add_option("--seed", opts.seed, "Random seed (same seed and threads: same result)")
      ->capture_default_str();
  app.add_option("--threads", opts.threads, "Worker threads (0: all cores)")
      ->check(at_least(0, 1024));
  app.add_option_function<std::string>(
         "--max-memory", [](const std::string& text) { set_memory_budget(*parse_byte_size(text)); },
         "Memory budget: sizes read from files that would need more are refused (512M, 8G; "
         "default: the machine's memory; share/limits.md)")
      ->type_name("SIZE")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            return parse_byte_size(text) ? std::string()
                                         : "expected a size such as 512M or 8G, got '" + text + "'";
          },
          "SIZE"));
  app.add_flag("-q,--quiet", opts.quiet, "No progress or log output on stderr");
  app.add_flag("--json", opts.json, "Print one machine-readable JSON result on stdout");
  app.set_version_flag("--version", app.get_name() + " " + version());
  // The kernels' thread pool follows --threads (0: every core) in every program.
  app.parse_complete_callback([&opts] { kernels::set_num_threads(opts.threads); });
}

namespace {

// " (did you mean --learning-rate?)" for the first unknown --flag of argv, or "".
std::string flag_hint(const CLI::App& app, int argc, char** argv) {
  std::vector<std::string> names;
  std::vector<const CLI::App*> apps = {&app};
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    apps.push_back(sub);
  for (const CLI::App* a : apps)
    for (const CLI::Option* o : a->get_options())
      for (const auto& l : o->get_lnames()) names.push_back("--" + l);
  // Keras's and PyTorch's spellings of ours.
  static const std::map<std::string, std::string> aliases = {{"--lr", "--learning-rate"},
                                                             {"--batch", "--batch-size"},
                                                             {"--bs", "--batch-size"},
                                                             {"--out", "--output"},
                                                             {"--optim", "--optimizer"}};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || a == "--") continue;
    a = a.substr(0, a.find('='));
    if (std::find(names.begin(), names.end(), a) != names.end()) continue;
    std::string guess;
    std::string dashed = a;
    std::replace(dashed.begin(), dashed.end(), '_', '-');
    if (std::find(names.begin(), names.end(), dashed) != names.end())
      guess = dashed;
    else if (auto it = aliases.find(dashed);
             it != aliases.end() &&
             std::find(names.begin(), names.end(), it->second) != names.end())
      guess = it->second;
    else
      guess = nearest(dashed, names);
    if (!guess.empty()) return " (did you mean " + guess + "?)";
  }
  return {};
}

}  // namespace

int run_main(CLI::App& app, int argc, char** argv, const std::function<int()>& body) {
  const std::string prog = app.get_name();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e) == 0 ? kOk : kUsage;
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e) == 0 ? kOk : kUsage;
  } catch (const CLI::CallForVersion& e) {
    app.exit(e);
    return kOk;
  } catch (const CLI::ParseError& e) {
    const std::string hint =
        dynamic_cast<const CLI::ExtrasError*>(&e) ? flag_hint(app, argc, argv) : "";
    std::cerr << prog << ": error: " << e.what() << hint << "\n"
              << "Run '" << prog << " --help' for usage.\n";
    return kUsage;
  } catch (const std::exception& e) {
    // A setting applied while parsing (e.g. the thread pool's size) refused its value.
    std::cerr << prog << ": error: " << e.what() << "\n";
    return kUsage;
  }
  // One sentence on stderr and the exit code. In a job of several processes (mpirun) the
  // sentence names the process, and the whole job ends: the others may be waiting for this one.
  const auto fail = [&](int code, const std::string& what, bool usage = false) {
    dist::Comm* comm = dist::Comm::started();
    const bool job = comm && comm->parallel();
    // An error every process meets (a bad recipe) is told once, by the first: its abort ends
    // the others within this pause. One that only this process meets comes after it.
    if (job && !comm->is_root()) std::this_thread::sleep_for(std::chrono::seconds(2));
    const std::string who = job ? prog + " (" + comm->where() + ")" : prog;
    std::cerr << who << ": error: " << what << "\n";
    if (usage) std::cerr << "Run '" << prog << " --help' for usage.\n";
    std::cerr.flush();
    if (job) comm->abort(code);
    return code;
  };
  try {
    const int rc = body();
    // Results go to stdout: a full disk or a closed pipe must not end in exit 0.
    std::cout.flush();
    if (!std::cout) return fail(kRuntimeFailure, "cannot write the output to stdout");
    return rc;
  } catch (const CLI::ParseError& e) {
    // Flag combinations the body rejects are usage errors too.
    return fail(kUsage, e.what(), true);
  } catch (const UsageError& e) {
    return fail(kUsage, e.what(), true);
  } catch (const ConfigError& e) {
    return fail(kBadInput, e.what());
  } catch (const FormatError& e) {
    return fail(kBadInput, e.what());
  } catch (const ShapeError& e) {
    return fail(kBadInput, e.what());
  } catch (const DataError& e) {
    return fail(kBadInput, e.what());
  } catch (const InputError& e) {
    return fail(kBadInput, e.what());
  } catch (const BudgetError& e) {  // a size from the input past --max-memory: bad input
    return fail(kBadInput, e.what());
  } catch (const IoError& e) {
    return fail(kRuntimeFailure, e.what());
  } catch (const Error& e) {  // a run that cannot go on (e.g. training diverged): one sentence
    return fail(kRuntimeFailure, e.what());
  } catch (const std::bad_alloc&) {
    return fail(kRuntimeFailure, "out of memory");
  } catch (const std::exception& e) {
    return fail(kRuntimeFailure, std::string("internal error: ") + e.what());
  }
}

}  // namespace cnn::cmd
