#!/usr/bin/env bash
# The whole test suite: installs the outside tools it needs, checks formatting, lints and the
# crate dependency rules, builds the release binaries the conformance and platform tests run
# (`vigia`, `vigia-cidades`, `vigia-admin`), then runs every test of the workspace (unit,
# fuzz-corpus replay, integration, conformance).
set -euo pipefail
cd "$(dirname "$0")"

bash scripts/install-deps.sh
python3 .ci/check-deps.py
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -j2 -- -D warnings
cargo build --release -j2 --workspace --bin vigia --bin vigia-cidades --bin vigia-admin
cargo test --workspace -j2 "$@"
