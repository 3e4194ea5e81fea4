#!/usr/bin/env bash
# rustc wrapper for scripts/coverage.sh: instruments this workspace's crates only. Cargo names
# a workspace crate's source by a relative path and a dependency's by an absolute one; build
# scripts and proc macros run inside the build (an instrumented proc macro crashes rustc in
# LLVM's continuous mode), so they stay plain.
rustc=$1
shift
instrument=no
for arg in "$@"; do
  case $arg in
    *.rs) [ "${arg#/}" = "$arg" ] && instrument=yes ;;
  esac
done
case " $* " in
  *" build_script_build "* | *" proc-macro "*) instrument=no ;;
esac
if [ "$instrument" = yes ]; then
  exec "$rustc" "$@" -C instrument-coverage -C llvm-args=-runtime-counter-relocation
fi
exec "$rustc" "$@"
