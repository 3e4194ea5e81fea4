#!/usr/bin/env python3
"""Checks the workspace's dependency rules (shared/DESIGN.md, "Workspace").

Runs `cargo metadata --format-version 1 --no-deps` from the repository root and fails (exit 1)
naming the crate and the forbidden edge when:
- a workspace crate depends on a workspace crate its row of the design table does not allow
  (normal, build and dev dependencies alike);
- vigia-media depends on tokio with any feature but `sync`, or vigia-protocol depends on tokio
  at all (normal and build dependencies; dev-dependencies may use a runtime for tests).

Prints "dependency rules: ok (N crates)" on success. Standard library only.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SERVER = "vigia"
LIBRARIES = {"vigia-media", "vigia-protocol", "vigia-storage", "vigia-events"}

# Workspace crates each crate may depend on. Crates under sidecars/ are matched by folder.
ALLOWED = {
    "vigia-media": set(),
    "vigia-protocol": {"vigia-media"},
    "vigia-storage": {"vigia-media"},
    "vigia-events": set(),
    SERVER: LIBRARIES,
    "vigia-loadgen": {"vigia-media", "vigia-protocol"},
    "vigia-benches": LIBRARIES,
    "vigia-conformance": LIBRARIES,
}
SIDECAR_ALLOWED = {"vigia-events"}

# tokio features allowed in normal/build dependencies; None means tokio itself is forbidden.
TOKIO_FEATURES = {"vigia-media": {"sync"}, "vigia-protocol": None}


def metadata():
    """The workspace's `cargo metadata`, without dependencies' own packages."""
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        sys.exit(f"dependency rules: `cargo metadata` failed:\n{out.stderr}")
    return json.loads(out.stdout)


def allowed_for(package, root):
    """The workspace crates `package` may depend on, or None when no rule covers it."""
    manifest = Path(package["manifest_path"]).resolve()
    if manifest.relative_to(root).parts[0] == "sidecars":
        return SIDECAR_ALLOWED
    return ALLOWED.get(package["name"])


def kind_name(dep):
    return dep["kind"] or "normal"


def edge_errors(package, members, root):
    """Forbidden edges from `package` to other workspace crates."""
    name = package["name"]
    allowed = allowed_for(package, root)
    if allowed is None:
        return [f"{name}: no dependency rule for this crate; add it to .ci/check-deps.py "
                "(and to the table in DESIGN.md)"]
    errors = []
    for dep in package["dependencies"]:
        target = dep["name"]
        if target not in members:
            continue
        if target == SERVER:
            errors.append(f"{name} -> {target} ({kind_name(dep)}): nothing may depend on the server")
        elif target not in allowed:
            may = ", ".join(sorted(allowed)) or "no workspace crate"
            errors.append(f"{name} -> {target} ({kind_name(dep)}): forbidden; {name} may depend on {may}")
    return errors


def tokio_errors(package):
    """tokio dependencies of `package` beyond what its rule allows."""
    name = package["name"]
    if name not in TOKIO_FEATURES:
        return []
    permitted = TOKIO_FEATURES[name]
    errors = []
    for dep in package["dependencies"]:
        if dep["name"] != "tokio" or dep["kind"] == "dev":
            continue
        if permitted is None:
            errors.append(f"{name} -> tokio ({kind_name(dep)}): {name} must not depend on tokio")
            continue
        # tokio's `default` feature set is empty, so only the named features matter.
        extra = sorted(set(dep["features"]) - permitted)
        if extra:
            errors.append(f"{name} -> tokio ({kind_name(dep)}): features {extra} beyond "
                          f"{sorted(permitted)}")
    return errors


def main():
    meta = metadata()
    root = Path(meta["workspace_root"]).resolve()
    members = {p["name"] for p in meta["packages"]}
    errors = []
    for package in sorted(meta["packages"], key=lambda p: p["name"]):
        errors += edge_errors(package, members, root)
        errors += tokio_errors(package)
    if errors:
        for error in errors:
            print(f"dependency rules: {error}", file=sys.stderr)
        return 1
    print(f"dependency rules: ok ({len(members)} crates)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
