#!/usr/bin/env bash
# Runs every fuzz target of callcore-sip (callcore-sip/tests/fuzz.rs: message parser,
# TCP framer, SDP, digest, request handler) for a fixed time each, on the stable
# toolchain, and fails on the first crash or broken property. The engine is bolero's
# own under `cargo test` (seeds edited at random, no instrumentation): nothing to
# install, and it reuses the test build of `cargo test --workspace`. See
# docs/fuzzing.md (and there for coverage-guided engines).
#
#   FUZZ_SECONDS   seconds per target (default 50: five targets in about 4.5 minutes)
#   FUZZ_TARGETS   space-separated subset of the targets below
#
# A failure prints the input and a BOLERO_RANDOM_SEED=… that replays it:
#   BOLERO_RANDOM_SEED=… cargo test -p callcore-sip --test fuzz <target>
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${FUZZ_SECONDS:-50}"
read -r -a targets <<<"${FUZZ_TARGETS:-fuzz_message_parser fuzz_tcp_framer fuzz_sdp fuzz_digest fuzz_request_handler}"
log_dir="${TMPDIR:-/tmp}/callcore-fuzz.$$"
mkdir -p "$log_dir"
trap 'rm -rf "$log_dir"' EXIT

cargo test -q -p callcore-sip --test fuzz --no-run
for t in "${targets[@]}"; do
    log="$log_dir/$t.log"
    if ! BOLERO_RANDOM_TEST_TIME_MS=$((secs * 1000)) \
        cargo test -q -p callcore-sip --test fuzz -- --exact "$t" --nocapture >"$log" 2>&1; then
        echo "fuzz: $t FAILED after up to ${secs} s:"
        cat "$log"
        exit 1
    fi
    grep -h '^fuzz target' "$log" || { echo "fuzz: $t did not run"; cat "$log"; exit 1; }
done
echo "fuzz: ${#targets[@]} targets, ${secs} s each, no crash"
