#!/usr/bin/env bash
# Fetches what vigia-ai's OCR stage loads at run time, into a cache outside the repository:
#   libonnxruntime.so.*      from the PyPI wheel `onnxruntime` (MIT), loaded by `ort` (load-dynamic)
#   ch_PP-OCRv4_det_infer.onnx, ch_PP-OCRv4_rec_infer.onnx
#                            from the PyPI wheel `rapidocr-onnxruntime` (Apache-2.0)
# Versions are pinned; the ONNX Runtime version must match the `api-NN` feature of `ort` in
# sidecars/ai/Cargo.toml. Idempotent: does nothing when the three files are there.
# Usage: sidecars/ai/setup-models.sh [-q]     (directory: $VIGIA_AI_MODELS, or
#        ${VIGIA_TOOLS:-$HOME/.cache/vigia-tools}/ai)
set -euo pipefail

ORT_VERSION=1.31.1
RAPIDOCR_VERSION=1.4.4
quiet=${1:-}
dir="${VIGIA_AI_MODELS:-${VIGIA_TOOLS:-$HOME/.cache/vigia-tools}/ai}"
det=ch_PP-OCRv4_det_infer.onnx
rec=ch_PP-OCRv4_rec_infer.onnx
lib="libonnxruntime.so.$ORT_VERSION"

say() { [ "$quiet" = "-q" ] || echo "$@"; }

if [ -f "$dir/$det" ] && [ -f "$dir/$rec" ] && [ -f "$dir/$lib" ]; then
  say "vigia-ai models: $dir (present)"
  exit 0
fi

mkdir -p "$dir/wheels"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
  -d "$dir/wheels" "onnxruntime==$ORT_VERSION" "rapidocr-onnxruntime==$RAPIDOCR_VERSION"

python3 - "$dir" "$tmp" "$ORT_VERSION" "$RAPIDOCR_VERSION" "$det" "$rec" <<'PY'
import glob, os, shutil, sys, zipfile
dir, tmp, ortv, rapv, det, rec = sys.argv[1:]
def wheel(prefix, version):
    found = glob.glob(os.path.join(dir, "wheels", f"{prefix}-{version}-*.whl"))
    if not found:
        sys.exit(f"setup-models: no {prefix} {version} wheel in {dir}/wheels")
    return found[0]
def extract(whl, want):
    with zipfile.ZipFile(whl) as z:
        for name in z.namelist():
            base = os.path.basename(name)
            if want(base):
                with z.open(name) as src, open(os.path.join(tmp, base), "wb") as dst:
                    shutil.copyfileobj(src, dst)
                os.replace(os.path.join(tmp, base), os.path.join(dir, base))
                yield base
libs = list(extract(wheel("onnxruntime", ortv), lambda b: b.startswith("libonnxruntime.so")))
models = list(extract(wheel("rapidocr_onnxruntime", rapv), lambda b: b in (det, rec)))
if f"libonnxruntime.so.{ortv}" not in libs or sorted(models) != sorted([det, rec]):
    sys.exit(f"setup-models: expected libonnxruntime.so.{ortv}, {det}, {rec}; got {libs + models}")
PY
rm -rf "$dir/wheels"
say "vigia-ai models: $dir ($lib, $det, $rec)"
