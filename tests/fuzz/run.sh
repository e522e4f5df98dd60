#!/usr/bin/env bash
# Runs the libFuzzer targets of a TM_FUZZ build (see README.md).
#
#   run.sh SECONDS [TARGET...]   fuzz each target for SECONDS, one after the
#                                other; fails if any found a crash, leak, UB
#                                or timeout (the reproducer is in
#                                $WORK/artifacts/TARGET/)
#   run.sh --regress [TARGET...] run each target once over its seeds and its
#                                saved reproducers (regressions/TARGET); no fuzzing
#
# With no TARGET: every fuzz_* binary in the build. Environment:
#   TM_FUZZ_BUILD  the build directory (default: build-fuzz)
#   TM_FUZZ_WORK   corpora and artifacts (default: $TM_FUZZ_BUILD/fuzz);
#                  $WORK/corpus/TARGET grows from run to run
#   TM_FUZZ_ARGS   more libFuzzer flags (e.g. -jobs=2 -workers=2, -max_len=65536)
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${TM_FUZZ_BUILD:-build-fuzz}
bin=$build/bin
work=${TM_FUZZ_WORK:-$build/fuzz}

mode=fuzz
if [ "${1:-}" = --regress ]; then
    mode=regress
elif [[ "${1:-}" =~ ^[0-9]+$ ]]; then
    seconds=$1
else
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
shift

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in "$bin"/fuzz_*; do
        [ -x "$f" ] && targets+=("$(basename "$f")")
    done
fi
if [ ${#targets[@]} -eq 0 ]; then
    echo "run.sh: no fuzz_* binaries in $bin (configure with CC=clang -DTM_FUZZ=ON)" >&2
    exit 2
fi

# Leaks count as failures; UB aborts (the build uses -fno-sanitize-recover).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export XDG_CACHE_HOME=$work/cache
failed=()
for t in "${targets[@]}"; do
    exe=$bin/$t
    if [ ! -x "$exe" ]; then
        echo "run.sh: no such target: $exe" >&2
        failed+=("$t")
        continue
    fi
    seeds=$work/seeds/$t
    rm -rf "$seeds"
    python3 "$here/make_corpus.py" "$t" "$seeds" "$src" || { failed+=("$t"); continue; }
    regress=$here/regressions/$t
    mkdir -p "$work/artifacts/$t"
    if [ $mode = regress ]; then
        dirs=("$seeds")
        [ -d "$regress" ] && dirs+=("$regress")
        echo "== $t: seeds and reproducers, once"
        # -runs=0: execute the given inputs only
        "$exe" -runs=0 -timeout=60 -artifact_prefix="$work/artifacts/$t/" "${dirs[@]}" \
            >"$work/artifacts/$t/regress.log" 2>&1
        rc=$?
    else
        corpus=$work/corpus/$t
        mkdir -p "$corpus"
        dirs=("$corpus" "$seeds")
        [ -d "$regress" ] && dirs+=("$regress")
        echo "== $t: fuzzing for ${seconds}s"
        # shellcheck disable=SC2086
        "$exe" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -max_len=16384 \
            -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" ${TM_FUZZ_ARGS:-} \
            "${dirs[@]}" >"$work/artifacts/$t/fuzz.log" 2>&1
        rc=$?
        grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' \
            "$work/artifacts/$t/fuzz.log" | sed 's/^/   /'
    fi
    if [ $rc -ne 0 ]; then
        log=$work/artifacts/$t/$([ $mode = regress ] && echo regress || echo fuzz).log
        echo "!! $t failed (exit $rc); log: $log" >&2
        grep -E -A25 '^==[0-9]+==ERROR|runtime error|^fuzz: |Test unit written' "$log" | head -60 >&2
        failed+=("$t")
    fi
done
if [ ${#failed[@]} -ne 0 ]; then
    echo "run.sh: failed: ${failed[*]}" >&2
    exit 1
fi
echo "run.sh: ok: ${targets[*]}"
