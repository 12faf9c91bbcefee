"""The packages form layers, and no import runs back up them (issue 24).

Each package may import only packages of a lower layer (or its own). Read from the source with
``ast``, imports inside functions included: a lazy import that runs back up is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: Bottom to top. A package imports only from the layers before its own (and itself).
LAYERS: list[set[str]] = [
    {"scoring"},
    {"ridge", "run_folder"},
    {"runtime"},
    {"datamodules"},
    {"simulator"},  # writes the layouts datamodules reads, with its file names
    {"lightning_modules"},
    {"cli", "export", "reports"},
    {"train", "predict", "report"},
    {"sweeps", "kfold"},  # run train.py's CLI in process
    {"sweep", "benchmarks", "scripts", "tests"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}
#: What the ridge solvers and the run-folder contract may use of the project: nothing but scoring.
ONLY = {"ridge": {"scoring", "ridge"}, "run_folder": {"scoring", "run_folder"}}


def _project_imports(path: Path) -> set[str]:
    """Top-level names of the project's packages that ``path`` imports anywhere in it."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & set(RANK)


def _package_of(path: Path) -> str:
    rel = path.relative_to(REPO)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _sources() -> list[Path]:
    return [p for p in REPO.rglob("*.py") if ".git" not in p.parts and _package_of(p) in RANK]


def test_every_top_level_package_has_a_layer():
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")}
    assert packages - set(RANK) - {"notebooks"} == set(), "a new package needs its place in LAYERS"


def test_no_import_runs_back_up_the_layers():
    upward = []
    for path in _sources():
        own = _package_of(path)
        for imported in _project_imports(path):
            if RANK[imported] > RANK[own] or (RANK[imported] == RANK[own] and imported != own
                                              and own not in LAYERS[-1]):
                upward.append(f"{path.relative_to(REPO)} imports {imported}")
            if own in ONLY and imported not in ONLY[own]:
                upward.append(f"{path.relative_to(REPO)} imports {imported} (only scoring)")
    assert upward == []


def test_the_check_sees_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from lightning_modules.system import EncodingModel\n")
    assert _project_imports(bad) == {"lightning_modules"}
