#!/usr/bin/env python3
"""The feature sets the tests build with, against the one `sam build` ships.

Three builds resolve features:
  P  what `sam build` ships: `cargo lambda build --bin X` at the root, the default members
     (the functions and shared), normal dependencies only;
  W  `cargo build --workspace --bins`: the function binaries the tests drive over the Runtime API;
  T  `cargo test --workspace`: W plus the dev-dependencies.

W must equal T on every crate they share: otherwise the whole dependency graph is compiled twice
(minutes of CI). W may differ from P only by features the test support turns on that change no
behaviour of the functions (listed in ADDITIVE); anything else (a TLS provider, say) fails here,
because then the binaries under test would not behave like the ones deployed.
"""
import subprocess
import sys

# crate -> features the test support may add over what ships, each for a reason that changes nothing
# in the functions: they never call these.
ADDITIVE = {
    "tokio": {"process", "signal-hook-registry"},  # the test support starts processes
    "hyper": {"server"},  # the stand-ins are axum servers
    "hyper-util": {"server", "service"},
    "tower": {"make"},
    "reqwest": {"json"},  # the test support's requests
    "serde_core": {"default"},  # = std, which ships already
    "bitflags": {"std"},  # see tests/Cargo.toml
    "num-traits": {"std"},
}


def resolve(*args):
    out = subprocess.run(
        ["cargo", "tree", "--locked", "--prefix", "none", "-f", "{p}|{f}", *args],
        check=True, capture_output=True, text=True,
    ).stdout
    crates = {}
    for line in out.splitlines():
        if "|" not in line:
            continue
        package, features = line.split("|", 1)
        features = features.replace("(*)", "").strip()
        parts = package.split()
        if len(parts) < 2 or parts[1].startswith("("):
            continue
        key = f"{parts[0]} {parts[1]}"
        crates.setdefault(key, set()).update(f for f in features.split(",") if f)
    return crates


def main():
    p = resolve("-e", "normal")
    w = resolve("--workspace", "-e", "normal")
    t = resolve("--workspace", "-e", "normal,dev")
    problems = []
    for key, features in sorted(w.items()):
        if key in t and t[key] != features:
            problems.append(f"{key}: cargo test adds {sorted(t[key] - features)} to what "
                            "`cargo build --workspace` builds: the graph would be compiled twice; "
                            "turn the features on in tests/Cargo.toml")
    for key, features in sorted(p.items()):
        extra = w.get(key, features) - features
        allowed = ADDITIVE.get(key.split()[0], set())
        if extra - allowed:
            problems.append(f"{key}: the tests' binaries have {sorted(extra - allowed)}, which the shipped "
                            "ones do not: they would not behave alike")
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"features: {len(p)} crates ship; the tests build {len(w)} with the same features "
          f"(additive extras only), cargo test adds {len(set(t) - set(w))} dev-only crates")
    return 0


if __name__ == "__main__":
    sys.exit(main())
