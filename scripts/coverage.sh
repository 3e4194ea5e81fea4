#!/usr/bin/env bash
# Line coverage per crate, counting the tests that run a binary out of process: the binaries
# the conformance and platform tests start (`vigia`, `vigia-cidades`, `vigia-admin`) are built
# instrumented like the test binaries, so what a conformance test makes `vigia` do counts for
# the server's code (cargo-tarpaulin counts only the test processes themselves). Counters are
# written continuously (LLVM's `%c` mode), so a server the test kills still counts.
#
#   scripts/coverage.sh [cargo test arguments]    (default --workspace)
#   e.g. scripts/coverage.sh -p vigia -p vigia-conformance
#
# Builds everything instrumented, in release, into target/cov (apart from the release build the
# benchmarks use), runs the tests (a failing test is reported and the coverage of what ran is
# still summed), then prints each crate's line coverage of its `src/` and writes it to
# target/cov/coverage.txt. Needs rustup's llvm-tools (added if missing) and what ./test.sh
# installs (scripts/install-deps.sh). The tests that start a binary take it from the folder of
# $VIGIA_BIN, which points at the instrumented build here (the platform test,
# sidecars/admin/tests/console.rs, starts all three from there).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

rustup component add llvm-tools >/dev/null 2>&1 || true
TOOLS=$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin
if [ ! -x "$TOOLS/llvm-profdata" ] || [ ! -x "$TOOLS/llvm-cov" ]; then
  echo "coverage.sh: llvm-profdata/llvm-cov missing in $TOOLS: run \`rustup component add llvm-tools\`" >&2
  exit 1
fi
export CARGO_TARGET_DIR=$ROOT/target/cov
export RUSTC_WRAPPER=$ROOT/scripts/coverage-rustc.sh
PROFRAW=$CARGO_TARGET_DIR/profraw
rm -rf "$PROFRAW"
mkdir -p "$PROFRAW"
export LLVM_PROFILE_FILE="$PROFRAW/%p-%c.profraw"
export VIGIA_BIN=$CARGO_TARGET_DIR/release/vigia

cargo build --release -j2 --workspace --bin vigia --bin vigia-cidades --bin vigia-admin
status=0
cargo test --release -j2 --no-fail-fast "${@:---workspace}" || status=$?
[ "$status" = 0 ] || echo "coverage.sh: some tests failed (exit $status); the figures cover what ran"

"$TOOLS/llvm-profdata" merge -sparse "$PROFRAW" -o "$CARGO_TARGET_DIR/cov.profdata"
# Only this run's executables: target/cov/release/deps also holds the test binaries of earlier
# builds, and a file compiled into two of them would be counted twice.
objects=()
for bin in "$CARGO_TARGET_DIR"/release/{vigia,vigia-cidades,vigia-admin} \
  $(cargo test --release -j2 --no-run --message-format=json "${@:---workspace}" 2>/dev/null |
    python3 -c 'import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message.get("executable"):
        print(message["executable"])'); do
  [ -f "$bin" ] && objects+=(-object "$bin")
done
"$TOOLS/llvm-cov" export -summary-only -instr-profile "$CARGO_TARGET_DIR/cov.profdata" \
  -ignore-filename-regex '/\.cargo/|/rustc/|/target/' "${objects[@]}" \
  >"$CARGO_TARGET_DIR/summary.json"

python3 - "$CARGO_TARGET_DIR/summary.json" "$ROOT" <<'PY' | tee "$CARGO_TARGET_DIR/coverage.txt"
import json, os, sys
from collections import defaultdict

summary, root = sys.argv[1], sys.argv[2]
lines = defaultdict(lambda: [0, 0])  # crate folder -> [covered, count]
for f in json.load(open(summary))["data"][0]["files"]:
    rel = os.path.relpath(f["filename"], root)
    if rel.startswith("..") or "/src/" not in "/" + rel:
        continue
    crate = ("/" + rel).split("/src/")[0].lstrip("/")
    lines[crate][0] += f["summary"]["lines"]["covered"]
    lines[crate][1] += f["summary"]["lines"]["count"]
print(f"{'crate':<24} {'lines':>8} {'covered':>8} {'%':>6}")
for crate, (covered, count) in sorted(lines.items()):
    print(f"{crate:<24} {count:>8} {covered:>8} {100 * covered / max(count, 1):>6.1f}")
PY
exit "$status"
