"""The requirement files agree: one tested set of pins, and the smaller files are subsets of it.

    requirements.txt          everything, pinned: the book, the tests, the site (make venv)
    requirements-lab.txt      JupyterLab for `make lab`, installed on top of it
    binder/requirements.txt   what a reader needs to run the notebooks (Binder), plus `-e .`
"""

import os
import re
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
TESTED = ROOT / "requirements.txt"
LAB = ROOT / "requirements-lab.txt"
READER = ROOT / "binder" / "requirements.txt"
# Tools for building, testing or editing, never needed to run a notebook.
TOOLS = {"pytest", "pytest-xdist", "pytest-timeout", "nbval", "hypothesis", "ruff", "playwright", "jupyter-book",
         "sphinx", "myst-nb", "sphinx-book-theme", "pydata-sphinx-theme", "jupyterlab", "notebook"}
# Import names of the notebooks' third-party imports, and the distributions that provide them.
DISTRIBUTION = {"sklearn": "scikit-learn", "skimage": "scikit-image", "PIL": "pillow", "yaml": "pyyaml",
                "IPython": "ipython", "convlab": "convlab-book"}


def requirements(path: Path) -> dict:
    """{canonical name: Requirement} for the package lines of a requirements file (options and paths skipped)."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith(("#", "-", ".")):
            continue
        requirement = Requirement(line)
        found[canonicalize_name(requirement.name)] = requirement
    return found


def pin(requirement: Requirement) -> str:
    (spec,) = requirement.specifier
    assert spec.operator == "==", f"{requirement} is not an exact pin"
    return spec.version


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.mark.parametrize("path", [TESTED, LAB, READER], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_requirement_is_an_exact_pin(path):
    found = requirements(path)
    assert found, f"{path} lists no packages"
    for requirement in found.values():
        pin(requirement)


def test_every_reader_pin_equals_the_tested_pin():
    tested = {name: pin(r) for name, r in requirements(TESTED).items()}
    for name, requirement in requirements(READER).items():
        assert name in tested, f"{name} is in binder/requirements.txt but not in requirements.txt"
        assert pin(requirement) == tested[name], (
            f"{name}: binder/requirements.txt pins {pin(requirement)}, requirements.txt {tested[name]}"
        )


def test_lab_pins_do_not_move_tested_pins():
    tested = {name: pin(r) for name, r in requirements(TESTED).items()}
    for name, requirement in requirements(LAB).items():
        assert tested.get(name, pin(requirement)) == pin(requirement), name
    assert "jupyterlab" in requirements(LAB) and "jupyterlab" not in tested, "make test must not need JupyterLab"


def test_the_reader_file_holds_no_build_or_test_tools():
    assert not TOOLS & set(requirements(READER))


def test_the_reader_file_installs_the_book_package():
    lines = [line.strip() for line in READER.read_text().splitlines()]
    assert "-e ." in lines or "." in lines, "binder/requirements.txt must install this checkout (convlab-book)"
    project = pyproject()["project"]
    assert project["name"] == "convlab-book" and project["scripts"]["convlab"] == "convlab.cli:main"


@pytest.mark.parametrize("path", [TESTED, READER], ids=lambda p: str(p.relative_to(ROOT)))
def test_pins_satisfy_the_package_dependencies(path):
    pins = {name: pin(r) for name, r in requirements(path).items()}
    for line in pyproject()["project"]["dependencies"]:
        dependency = Requirement(line)
        name = canonicalize_name(dependency.name)
        assert name in pins, f"convlab-book needs {name}: pin it in {path.name}"
        assert dependency.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} is not {line}"


def test_the_reader_file_covers_every_notebook_import():
    imported = set()
    for path in sorted((ROOT / "book").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                imported |= set(re.findall(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", cell.source, re.M))
    third_party = imported - set(sys.stdlib_module_names)
    reader = set(requirements(READER)) | {"convlab-book"}
    missing = {m for m in third_party if canonicalize_name(DISTRIBUTION.get(m, m)) not in reader}
    assert not missing, f"notebooks import {sorted(missing)}: pin them in binder/requirements.txt"


def test_binder_runs_the_tested_python():
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    assert runtime == "python-3.11"
    assert re.search(r'python-version:\s*"3\.11"', (ROOT / ".github" / "workflows" / "ci.yml").read_text())


def test_the_docs_point_inside_the_repository():
    # DESIGN.md is the design document; nothing may send a contributor to a file outside the repository.
    outside = ".." + "/shared"
    suffixes = {".md", ".txt", ".toml", ".yml", ".yaml", ".py", ".cfg", ".ipynb", ".sh"}
    skip = {".git", ".venv", "_build", "node_modules", "__pycache__", ".hypothesis", ".ruff_cache"}
    offenders = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [d for d in subfolders if d not in skip and not d.startswith(".") or d == ".github"]
        for file in files:
            path = Path(folder, file)
            if (path.suffix in suffixes or file == "Makefile") and outside in path.read_text(errors="replace"):
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"these files point outside the repository ({outside}): {offenders}"
    assert (ROOT / "DESIGN.md").is_file()
    for name in ("README.md", "CONTRIBUTING.md", "requirements.txt"):
        assert "DESIGN.md" in (ROOT / name).read_text(), f"{name} should point to DESIGN.md"
