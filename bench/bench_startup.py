"""Benchmark (not a test): the start-up of every workflow job, from interpreter start to the stage's first line of work.

Each Snakemake job runs one workflow/scripts/*.py in a fresh interpreter: Snakemake's preamble, the script's imports,
then the stage function, whose leading imports (and those of the helpers it calls in its own module, such as
stages.data_config) load what only that stage needs. For each script this runs exactly those imports (read with
`ast` from the script and the package source) in a fresh interpreter, several times, and prints the median seconds
from process start to the line after the last import. With --before REF the same is measured on a checkout of REF
(a temporary git worktree), taking turns with this tree at every repeat, for a before/after table.

Targets: <= 2 s for the rules that only read and write CSVs (tables, figures, merges, claims), <= 4 s for the others
(they load a model, or run torch on images).

    python bench/bench_startup.py [--repeats 5] [--before 53ebe82] [--explain fig2]
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CSV_ONLY = {"ablation_table", "claims", "collect_spectra", "merge_csvs", "tab_hf_energy",
            "tab_main_image", "tab_main_video", "tab_reconstruction"}  # and every fig*
TARGET_S = {"csv": 2.0, "torch": 4.0}
# What Snakemake's preamble imports before the script's first line (snakemake/script/__init__.py).
PREAMBLE = ["import pickle", "from snakemake.logging import logger", "from snakemake.iocontainers import Snakemake"]
# Trainings start one call deeper: with the local launcher, launch.TrainingJob imports its trainer, then trains.
TRAINER = {"train_ae": ["from diffusability.runconfig import compose_run_config",
                        "from diffusability.train.ae import train_autoencoder"],
           "train_dit": ["from diffusability.runconfig import compose_run_config",
                         "from diffusability.train.dit import train_dit"]}


def kind(script: str) -> str:
    return "csv" if script in CSV_ONLY or script.startswith("fig") else "torch"


def _absolute(node: ast.ImportFrom, module: str) -> ast.ImportFrom:
    """`from .x import y` inside `module` as an absolute import."""
    if not node.level:
        return node
    base = module.split(".")[:-node.level]
    return ast.ImportFrom(module=".".join(base + ([node.module] if node.module else [])), names=node.names, level=0)


def _leading_imports(body: list[ast.stmt], module: str) -> list[str]:
    """The imports a function runs before its first other statement (its docstring aside)."""
    out = []
    for stmt in body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and not out:
            continue
        if not isinstance(stmt, (ast.Import, ast.ImportFrom)):
            break
        out.append(ast.unparse(_absolute(stmt, module) if isinstance(stmt, ast.ImportFrom) else stmt))
    return out


def _called(node: ast.AST, names) -> list[str]:
    return list(dict.fromkeys(n.func.id for n in ast.walk(node) if isinstance(n, ast.Call)
                              and isinstance(n.func, ast.Name) and n.func.id in names))


def _stage_imports(name: str, module: str, tree: Path, seen: set) -> list[str]:
    """The leading imports of function `name` of `module`, and of the functions of that module it calls (such as
    stages.data_config, which a stage runs before its work)."""
    path = tree / "src" / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    funcs = {s.name: s for s in ast.parse(path.read_text()).body if isinstance(s, ast.FunctionDef)}
    seen.add((module, name))
    out = _leading_imports(funcs[name].body, module)
    for callee in _called(funcs[name], funcs):
        if (module, callee) not in seen:
            out += _stage_imports(callee, module, tree, seen)
    return out


def startup_imports(script: Path, tree: Path) -> list[str]:
    """The import statements a job of `script` runs before its stage works: the script's, then its stages'."""
    mod = ast.parse(script.read_text())
    imports = [ast.unparse(s) for s in mod.body if isinstance(s, (ast.Import, ast.ImportFrom))]
    origin = {a.asname or a.name: s.module for s in mod.body if isinstance(s, ast.ImportFrom) and s.module
              and s.module.startswith("diffusability") for a in s.names}
    seen = set()
    for name in _called(mod, set(origin) - {"logged"}):
        imports += _stage_imports(name, origin[name], tree, seen)
    return list(dict.fromkeys(imports + TRAINER.get(script.stem, [])))


def _program(imports: list[str]) -> str:
    return "\n".join([*PREAMBLE, *imports, "import time", "print(time.time())"])


def _run_once(program: str, tree: Path) -> float:
    """Seconds from launching a fresh interpreter to the end of `program` (which prints time.time() last)."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    start = time.time()
    proc = subprocess.run([sys.executable, "-c", program], cwd=tree, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"imports failed in {tree}:\n{program}\n{proc.stderr[-2000:]}")
    return float(proc.stdout.split()[-1]) - start


def measure(trees: list[Path], repeats: int) -> list[dict[str, float]]:
    """Median start-up seconds per script, for each tree. The trees take turns at every repeat, so that they share
    whatever else the machine is doing; a first round warms the caches and is not counted; scripts with the same
    imports share one measurement."""
    out, cache = [{} for _ in trees], {}
    for script in sorted(p.stem for p in (trees[-1] / "workflow" / "scripts").glob("*.py")):
        paths = [tree / "workflow" / "scripts" / f"{script}.py" for tree in trees]
        programs = [_program(startup_imports(p, tree)) if p.exists() else None for p, tree in zip(paths, trees)]
        todo = [(i, prog) for i, prog in enumerate(programs) if prog and (i, prog) not in cache]
        runs = {key: [] for key in todo}
        for r in range(repeats + 1):
            for i, prog in todo:
                t = _run_once(prog, trees[i])
                if r:
                    runs[(i, prog)].append(t)
        cache.update({key: statistics.median(v) for key, v in runs.items()})
        for i, prog in enumerate(programs):
            if prog:
                out[i][script] = cache[(i, prog)]
        print(f"  {script:20s} " + " ".join(f"{o.get(script, float('nan')):5.2f}" for o in out), file=sys.stderr)
    return out


@contextlib.contextmanager
def checkout(ref: str):
    """A temporary git worktree of `ref`."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / f"before-{ref}"
        subprocess.run(["git", "worktree", "add", "-q", "--detach", str(tree), ref], cwd=ROOT, check=True)
        try:
            yield tree
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=True)


def explain(script: str, tree: Path, top: int = 20) -> None:
    """The heaviest imports of one script's start-up (cumulative microseconds, from python -X importtime)."""
    imports = startup_imports(tree / "workflow" / "scripts" / f"{script}.py", tree)
    print("\n".join(imports))
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "\n".join([*PREAMBLE, *imports])], cwd=tree,
                          env={**os.environ, "PYTHONPATH": str(tree / "src")}, capture_output=True, text=True)
    rows = [line.split("|") for line in proc.stderr.splitlines() if line.startswith("import time:")][1:]
    for self_us, cum_us, name in sorted(rows, key=lambda r: -int(r[1]))[:top]:
        print(f"{int(cum_us) / 1e6:7.3f} s  {name.rstrip()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--before", metavar="REF", help="also measure this git commit, for a before/after table")
    ap.add_argument("--explain", metavar="SCRIPT", help="print the heaviest imports of one script's start-up")
    args = ap.parse_args()
    if args.explain:
        explain(args.explain, ROOT)
        return
    with contextlib.ExitStack() as stack:
        trees = [stack.enter_context(checkout(args.before))] if args.before else []
        *before, after = measure([*trees, ROOT], args.repeats)
    before = before[0] if before else {}
    print(f"\nJob start-up, interpreter start to the stage's first line of work (median of {args.repeats}, "
          f"{os.cpu_count()} CPUs)")
    head = f"{'script':20s} {'rule kind':9s} " + (f"{'before s':>8s} " if before else "") + f"{'now s':>6s} target"
    print(head + "\n" + "-" * len(head))
    for script, s in after.items():
        k = kind(script)
        old = f"{before[script]:8.2f} " if script in before else (f"{'-':>8s} " if before else "")
        verdict = "ok" if s <= TARGET_S[k] else "OVER"
        print(f"{script:20s} {k:9s} {old}{s:6.2f} <= {TARGET_S[k]:.0f} s {verdict}")


if __name__ == "__main__":
    main()
