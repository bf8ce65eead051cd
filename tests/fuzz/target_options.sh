# Sourced by scripts/fuzz.sh (fuzzing) and tests/fuzz/replay.sh (replaying tests/corpus), so that
# a target runs the same way in both. target_options TARGET sets target_asan (to put before
# ASAN_OPTIONS) and target_flags (libFuzzer flags) for targets that need more than the defaults.
target_options() {
  target_asan="" target_flags=()
  case $1 in
    keras_h5)
      # libhdf5 (Debian's, not ours) reads in a child process (io/child.hpp). In production an
      # address-space limit makes its oversized mallocs fail; AddressSanitizer rules that limit
      # out, so here large mallocs return NULL as they would there (allocator_may_return_null,
      # max_allocation_size_mb) instead of tripping libFuzzer's malloc limit inside the child.
      target_asan="allocator_may_return_null=1:max_allocation_size_mb=256"
      target_flags=(-malloc_limit_mb=1048576)
      ;;
  esac
}
