#!/usr/bin/env bash
# Builds every cargo-fuzz target in fuzz/ (nightly) and runs each for a while, starting
# from the committed seeds (fuzz/seeds/<target>/) plus whatever fuzz/corpus/<target>/
# gathered in earlier runs. Any crash, panic, timeout or memory blow-up fails the run;
# its input is left in fuzz/artifacts/<target>/. Ends with "fuzz: N passed, M failed".
#
#   scripts/fuzz.sh --smoke            every target FUZZ_SECONDS (default 25) seconds: CI
#   scripts/fuzz.sh --time 600 [T...]  longer runs, optionally only targets T...
#   scripts/fuzz.sh --list             the targets
#
# Environment: FUZZ_SECONDS (per target, --smoke), FUZZ_SANITIZER (default none: the
# targets drive safe Rust only; set address to build with ASan), FUZZ_JOBS (parallel
# libFuzzer workers per target, default 1).
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${FUZZ_SECONDS:-25}"
sanitizer="${FUZZ_SANITIZER:-none}"
jobs="${FUZZ_JOBS:-1}"
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) shift ;;
        --time) secs="$2"; shift 2 ;;
        --list) sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^zbx-proto-fuzz$'; exit 0 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <("$0" --list)
fi

started=$(date +%s)
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz: installing the nightly toolchain"
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

fuzz=(cargo +nightly fuzz)
opts=(--sanitizer "$sanitizer" --fuzz-dir fuzz)
echo "fuzz: building all targets (sanitizer $sanitizer); running ${#targets[@]}"
mkdir -p fuzz/artifacts
if ! "${fuzz[@]}" build "${opts[@]}" >fuzz/artifacts/build.log 2>&1; then
    grep -E '^(error|warning)' -A12 fuzz/artifacts/build.log | head -60
    echo "fuzz: build failed (log fuzz/artifacts/build.log)"
    echo "fuzz: 0 passed, ${#targets[@]} failed"
    exit 1
fi
built=$(date +%s)
echo "fuzz: built in $((built - started)) s; running each target ${secs} s"

parallel=()
[ "$jobs" -gt 1 ] && parallel=(-jobs="$jobs" -workers="$jobs")
passed=0
failed=0
failures=()
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    seeds=()
    [ -d "fuzz/seeds/$t" ] && seeds=("fuzz/seeds/$t")
    log="fuzz/artifacts/$t/last-run.log"
    # -timeout: one input taking over 10 s is a failure (quadratic work, endless loop);
    # -rss_limit_mb: so is a parser growing past 2 GiB.
    if "${fuzz[@]}" run "${opts[@]}" "$t" "fuzz/corpus/$t" "${seeds[@]}" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        "${parallel[@]}" -print_final_stats=1 >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        echo "fuzz: $t ok (${runs:-?} runs)"
        passed=$((passed + 1))
    else
        echo "fuzz: $t FAILED; log $log, inputs in fuzz/artifacts/$t/:"
        grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -5 | sed 's/^/    /'
        failed=$((failed + 1))
        failures+=("$t")
    fi
done
echo "fuzz: total $(($(date +%s) - started)) s"
[ "$failed" -gt 0 ] && echo "fuzz: failed: ${failures[*]}"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
