#!/usr/bin/env bash
# Fetches what vigia-ai's OCR stage loads at run time, into a cache outside the repository:
#   libonnxruntime.so.*      from the PyPI wheel `onnxruntime` (MIT), loaded by `ort` (load-dynamic)
#   ch_PP-OCRv4_det_infer.onnx, ch_PP-OCRv4_rec_infer.onnx
#                            from the PyPI wheel `rapidocr-onnxruntime` (Apache-2.0)
#   ch_PP-OCRv4_{det,rec}_infer.folded.onnx
#                            the same models rewritten into fewer operators by fold_models.py
#                            (with the `onnx` package, in a venv under the cache): what vigia-ai runs
# Versions are pinned; the ONNX Runtime version must match the `api-NN` feature of `ort` in
# sidecars/ai/Cargo.toml. Idempotent: does nothing when the five files are there.
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
ONNX_VERSION=1.23.2
here="$(cd "$(dirname "$0")" && pwd)"

say() { [ "$quiet" = "-q" ] || echo "$@"; }

# Writes the folded copy of each model (fold_models.py) when it is missing.
fold() {
  local python="$dir/fold-venv/bin/python"
  if ! "$python" -c "import onnx; assert onnx.__version__ == '$ONNX_VERSION'" >/dev/null 2>&1; then
    python3 -m venv "$dir/fold-venv"
    "$dir/fold-venv/bin/pip" install -q --disable-pip-version-check "onnx==$ONNX_VERSION"
  fi
  for model in "$det" "$rec"; do
    local folded="${model%.onnx}.folded.onnx"
    if [ ! -f "$dir/$folded" ]; then
      "$python" "$here/fold_models.py" "$dir/$model" "$dir/$folded" >/dev/null
    fi
  done
}

if [ -f "$dir/$det" ] && [ -f "$dir/$rec" ] && [ -f "$dir/$lib" ]; then
  fold
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
fold
say "vigia-ai models: $dir ($lib, $det, $rec and their folded copies)"
