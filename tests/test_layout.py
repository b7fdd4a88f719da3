"""The layout is the architecture (DESIGN.md): which package may import which, and what the relay image carries.

Every `import` in a package's modules counts, lazy ones inside functions included, so a wrong direction cannot hide
behind a function-level import. The checker is run once on the tree and once on a planted wrong import.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]

# package -> the project packages it may import (DESIGN.md's picture; itself always allowed).
ALLOWED: dict[str, frozenset[str]] = {
    "registry": frozenset(),
    "control_plane": frozenset({"registry"}),
    "voice_runtime": frozenset({"registry"}),
    "infra": frozenset({"registry", "control_plane", "voice_runtime"}),
    "emulators": frozenset({"registry", "voice_runtime"}),
    "embedded": frozenset({"registry", "control_plane", "voice_runtime", "emulators"}),
    "cli": frozenset({"registry", "control_plane", "voice_runtime", "infra", "emulators", "embedded"}),
}
PROJECT = frozenset(ALLOWED)
# Third-party packages of the test world (the [local] and [dev] extras): never imported by the product.
TEST_WORLD = frozenset({"moto", "hypercorn", "matplotlib", "hdrh", "flask", "werkzeug", "pytest", "hypothesis"})
PRODUCT = ("registry", "control_plane", "voice_runtime", "infra", "cli")
# Distributions the relay image must not install (the list and what they drag in).
NOT_IN_IMAGE = {"moto", "matplotlib", "hypercorn", "cfn-lint", "flask", "docker", "pytest", "aws-cdk-lib"}


def imported_top_levels(path: Path) -> set[str]:
    """Top-level names of every absolute import in one module (relative imports stay inside their package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            names.add(node.args[0].value.split(".")[0])
    return names


def violations(root: Path, allowed: dict[str, frozenset[str]] = ALLOWED) -> list[str]:
    """'file: imports X' for every import across a forbidden direction under `root`."""
    found = []
    for package, may in sorted(allowed.items()):
        for path in sorted((root / package).rglob("*.py")):
            for name in sorted(imported_top_levels(path)):
                wrong_project = name in allowed and name != package and name not in may
                wrong_world = package in PRODUCT and name in TEST_WORLD
                if wrong_project or wrong_world:
                    found.append(f"{path.relative_to(root)}: imports {name}")
    return found


def test_every_package_imports_only_in_the_allowed_directions() -> None:
    assert violations(ROOT) == []


def test_a_planted_wrong_import_is_found(tmp_path: Path) -> None:
    for package in ALLOWED:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "voice_runtime" / "relay.py").write_text(
        "def f():\n    from control_plane.aws.live_store import read_namespace\n    return read_namespace\n")
    (tmp_path / "registry" / "model.py").write_text("import json\nfrom voice_runtime import relay\n")
    (tmp_path / "control_plane" / "x.py").write_text("import moto\n")
    (tmp_path / "cli" / "ok.py").write_text("from embedded import stack\nfrom registry import model\n")
    assert violations(tmp_path) == ["control_plane/x.py: imports moto", "registry/model.py: imports voice_runtime",
                                    "voice_runtime/relay.py: imports control_plane"]


@pytest.mark.slow  # a subprocess
def test_voicectl_starts_without_the_test_world() -> None:
    """`voicectl --help` (and the relay image's `voicectl runtime serve`) import no test-world module."""
    code = ("import sys, json, cli.app, voice_runtime.server, voice_runtime.runtime\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True,
                                           text=True).stdout))
    assert loaded & (TEST_WORLD | {"embedded", "emulators", "infra", "aws_cdk"}) == set()


def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_the_relay_image_copies_the_product_and_installs_the_core_only() -> None:
    dockerfile = _dockerfile()
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, flags=re.M))
    assert copied == {"registry", "control_plane", "voice_runtime", "cli"}
    [install] = re.findall(r"pip install (.+)$", dockerfile, flags=re.M)
    assert install.split() == ["-c", "constraints.txt", "."]  # no extras
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "!emulators/" not in ignored and "!embedded/" not in ignored


def _closure(requirements: list[str]) -> set[str]:
    """The distributions `requirements` install, following each installed distribution's own requirements."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:  # an optional platform dependency not installed here
            continue
        for sub in dist.requires or []:
            sub_req = Requirement(sub)
            extras = sorted(req.extras) or [""]  # every extra asked for (a dict keyed "extra" kept only the last)
            if sub_req.marker is None or any(sub_req.marker.evaluate({"extra": e}) for e in extras):
                todo.append(sub_req)
    return seen


def test_the_relay_images_requirement_set_has_no_test_world() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    image = _closure(project["dependencies"])
    assert image & NOT_IN_IMAGE == set()
    assert {"boto3", "websockets", "aws-sdk-bedrock-runtime", "pydantic"} <= image
    local = _closure(project["optional-dependencies"]["local"])
    assert {"moto", "matplotlib", "hypercorn"} <= local  # the extra is where they went


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_every_package_is_installed_by_the_project(package: str) -> None:
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    assert f"{package}*" in include
