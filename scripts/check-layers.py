#!/usr/bin/env python3
"""The shared crate's floors: a module imports only from its own floor or the floors below, and no two
modules import each other, directly or around a longer circle.

Reads every `crate::…` and `super::…` path in shared/src (use lines and paths in code), resolves it to the
longest module that exists, and checks the graph of file modules. Edges between a module and its own
ancestors or descendants (a `mod.rs` re-exporting its children, a child using its parent's types) are
not counted: they are one module's inside. Prints the graph's findings and exits 1 on any.

The floors, bottom to top (docs/development.md, "How it fits together"):
"""
import re
import sys
from pathlib import Path

FLOORS = [
    ("base", {"clock", "config", "secret", "logging", "metrics", "json", "text"}),
    ("http", {"http"}),
    ("adapters", {"aws", "state", "slack", "deploy", "silences"}),
    ("render", {"chat", "notify"}),
    ("governance", {"governance"}),
    ("flows", {"commands", "flows"}),
]
__doc__ += "".join(f"  {name}: {', '.join(sorted(mods))}\n" for name, mods in FLOORS)

ROOT = Path(__file__).resolve().parent.parent / "shared" / "src"


def module_of(path: Path) -> tuple:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return tuple(parts)


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(re.sub(r"//.*$", "", line) for line in text.splitlines())


def use_paths(text: str):
    """Every path a file names: `use` trees expanded, and `crate::a::b` / `super::a` in code."""
    for m in re.finditer(r"\buse\s+((?:crate|super|self)\b[^;]*);", text, flags=re.S):
        yield from expand(re.sub(r"\s+", "", m.group(1)))
    for m in re.finditer(r"\b((?:crate|super)(?:::[A-Za-z_][A-Za-z0-9_]*)+)", text):
        yield m.group(1)


def expand(tree: str):
    depth, start = 0, None
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                prefix = tree[:start]
                for part in split_top(tree[start + 1 : i]):
                    yield from expand(prefix + part if part != "self" else prefix.rstrip(":"))
                return
    yield tree.split(" as ")[0]


def split_top(inner: str):
    depth, cur = 0, ""
    for ch in inner:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            if cur:
                yield cur
            cur = ""
        else:
            cur += ch
    if cur:
        yield cur


def reexports(files: dict) -> dict:
    """(module, name) -> the module a `pub use` in `module` takes `name` from."""
    out = {}
    for module, path in files.items():
        text = strip_comments(path.read_text())
        is_dir = path.name in ("mod.rs", "lib.rs")
        for m in re.finditer(r"\bpub(?:\([a-z]+\))?\s+use\s+([^;]*);", text, flags=re.S):
            for used in expand(re.sub(r"\s+", "", m.group(1))):
                full = used if used.startswith(("crate", "super", "self")) else "self::" + used
                name = full.split("::")[-1]
                target = resolve(full, module, is_dir, set(files), {})
                if target != module:
                    out[(module, name)] = target
    return out


def resolve(path: str, here: tuple, is_dir_module: bool, modules: set, reexported: dict):
    parts = path.split("::")
    if parts[0] == "crate":
        base, rest = (), parts[1:]
    else:
        base = here
        rest = parts
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
    target = base
    for p in rest:
        if target + (p,) in modules:
            target = target + (p,)
        else:
            return reexported.get((target, p), target)
    return target


def floor_of(module: tuple):
    if not module:
        return None
    for level, (name, mods) in enumerate(FLOORS):
        if module[0] in mods:
            return level, name
    return None


def main() -> int:
    files = {module_of(p): p for p in ROOT.rglob("*.rs")}
    modules = set(files)
    reexported = reexports(files)
    edges = {}
    for module, path in files.items():
        text = strip_comments(path.read_text())
        is_dir = path.name in ("mod.rs", "lib.rs")
        for used in use_paths(text):
            target = resolve(used, module, is_dir, modules, reexported)
            if not target or target == module:
                continue
            if target[: len(module)] == module or module[: len(target)] == target:
                continue  # a module and its own parent or child
            edges.setdefault(module, set()).add(target)
    problems = []
    unknown = sorted({m[0] for m in modules if m and floor_of(m) is None})
    for top in unknown:
        problems.append(f"module `{top}` is on no floor: add it to FLOORS in scripts/check-layers.py")
    for source, targets in sorted(edges.items()):
        for target in sorted(targets):
            fs, ft = floor_of(source), floor_of(target)
            if fs and ft and ft[0] > fs[0]:
                problems.append(
                    f"upward import: {'::'.join(source)} ({fs[1]}) uses {'::'.join(target)} ({ft[1]})"
                )
    # Circles: strongly connected components with more than one module.
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    for comp in comps:
        names = sorted("::".join(m) for m in comp)
        problems.append("circle: " + " ↔ ".join(names))
    for p in problems:
        print(p)
    count = sum(len(t) for t in edges.values())
    print(f"check-layers: {len(files)} modules, {count} imports between them, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
