"""The Dockerfiles, parsed: each image takes its wheels from the one shared build stage,
its final stage runs as a non-root user and carries no build tools; the serving image
carries only what serving imports, and no torch; the drift image installs its extra alone
and sluice without its dependencies (numpy<2 against numpy>=2)."""

import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
WHEELS = ROOT / "infra" / "images" / "wheels.Dockerfile"
BUILD = ROOT / "infra" / "images" / "build.sh"
IMAGES = [
    ROOT / "Dockerfile",
    ROOT / "serving" / "Dockerfile",
    ROOT / "serving" / "drift" / "Dockerfile",
]
DOCKERFILES = [*IMAGES, WHEELS]
HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|clang|make|cmake|build-essential|pip wheel|cargo)\b")
ids = [str(p.relative_to(ROOT)) for p in DOCKERFILES]


def stages(dockerfile: Path) -> list[list[dict]]:
    """The instructions of each stage, in order."""
    found: list[list[dict]] = []
    for instruction in DockerfileParser(path=str(dockerfile)).structure:
        if instruction["instruction"] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def _values(stage: list[dict], kind: str) -> list[str]:
    return [i["value"] for i in stage if i["instruction"] == kind]


@pytest.mark.skipif(not Path(HADOLINT).exists(), reason="hadolint not installed (dev extra)")
@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=ids)
def test_dockerfiles_pass_hadolint(dockerfile):
    done = subprocess.run([HADOLINT, str(dockerfile)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("dockerfile", IMAGES, ids=ids[:-1])
def test_the_final_stage_runs_as_a_non_root_user_without_build_tools(dockerfile):
    final = stages(dockerfile)[-1]
    users = _values(final, "USER")
    assert users, "the final stage sets no USER: it would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"USER {users[-1]} is root"
    for command in _values(final, "RUN"):
        assert not BUILD_TOOLS.search(command), f"build tools in the final stage: {command}"


def image_rows() -> dict[str, dict[str, str]]:
    """infra/images/build.sh's table: image → Dockerfile, extras, folders, dependencies."""
    rows = re.findall(
        r'^\s+"([^"|]+)\|([^"|]+)\|([^"|]+)\|([^"|]+)\|([^"|]+)"$', BUILD.read_text(), re.M
    )
    keys = ("dockerfile", "extras", "packages", "deps")
    return {row[0]: dict(zip(keys, row[1:], strict=True)) for row in rows}


def _carried(packages: str) -> list[str]:
    """The source folders left after the shared build stage prunes for `packages`: its own
    RUN command's loop, run by bash over a copy of the tree's folders."""
    (run,) = _values(stages(WHEELS)[0], "RUN")
    loop = run.split("done;")[0] + "done"
    with tempfile.TemporaryDirectory() as scratch:
        for folder in ("components", "pipelines", "serving"):
            shutil.copytree(ROOT / folder, Path(scratch) / folder)
        subprocess.run(["bash", "-c", loop], cwd=scratch, env={"PACKAGES": packages}, check=True)
        root = Path(scratch)
        return sorted(
            str(p.relative_to(root))
            for p in root.glob("*/*")
            if p.is_dir() and p.name != "__pycache__"
        ) + sorted(str(p.relative_to(root)) for p in root.glob("*") if p.is_dir())


def test_every_image_takes_its_wheels_from_the_one_shared_build_stage():
    rows = image_rows()
    assert set(rows) == {"sluice", "sluice-serving", "sluice-drift"}
    for row in rows.values():
        first, final = stages(ROOT / row["dockerfile"])
        assert _values(first, "FROM") == ["wheels AS built"]
        assert _values(final, "COPY") == ["--from=built /wheels /wheels"]
    for dockerfile in IMAGES:
        assert not any(
            "pip wheel" in r for stage in stages(dockerfile) for r in _values(stage, "RUN")
        )


def test_the_shared_build_stage_keeps_exactly_the_folders_an_image_carries():
    serving = _carried(image_rows()["sluice-serving"]["packages"])
    # serving/ goes whole, so serving/drift rides along (unused there: it runs in its own
    # environment, and imports alibi-detect only when called)
    assert [p for p in serving if "/" in p] == [
        "components/base",
        "components/flights",
        "serving/drift",
    ]
    assert [p for p in serving if "/" not in p] == ["components", "serving"]
    everything = _carried(image_rows()["sluice"]["packages"])
    assert {"components/train", "pipelines", "serving"} <= set(everything)


def test_serving_imports_only_what_its_image_copies_and_no_torch():
    """Every serving module imports in a process where first-party modules outside the
    image's copy, and torch, cannot be found."""
    folders = image_rows()["sluice-serving"]["packages"].split()
    packages_copied = [folder.replace("/", ".") for folder in folders]
    modules_copied = ["components"]  # components/__init__.py, kept with its subpackages
    assert "serving" in packages_copied and "pipelines" not in packages_copied
    modules = sorted(
        f"serving.{p.stem}" for p in (ROOT / "serving").glob("*.py") if p.stem != "__init__"
    )
    code = f"""
import importlib, importlib.abc, sys
exact, packages = {modules_copied!r}, {packages_copied!r}
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        first = name.split(".")[0]
        if first == "torch":
            raise ImportError("torch is not in the serving image")
        inside = any(name == p or name.startswith(p + ".") for p in packages)
        if first in ("components", "serving", "pipelines") and not (inside or name in exact):
            raise ImportError(name + " is not copied into the serving image")
        return None
sys.meta_path.insert(0, Blocker())
for module in {modules!r}:
    importlib.import_module(module)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


def _requires(name: str, extras: frozenset[str] = frozenset(), seen=None) -> set[str]:
    """Every distribution `name` (with `extras`) pulls in, as installed here."""
    seen = set() if seen is None else seen
    for line in metadata.requires(name) or []:
        requirement = Requirement(line)
        if requirement.marker and not any(
            requirement.marker.evaluate({"extra": e}) for e in (extras or {""})
        ):
            continue
        key = requirement.name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        try:
            _requires(requirement.name, frozenset(requirement.extras), seen)
        except metadata.PackageNotFoundError:
            pass  # not installed here: an optional branch this environment does not use
    return seen


def test_the_serve_extra_pulls_in_no_torch():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert not any(Requirement(d).name == "torch" for d in extras["serve"])
    pulled = set()
    for line in extras["serve"]:
        requirement = Requirement(line)
        pulled |= {requirement.name.lower()} | _requires(
            requirement.name, frozenset(requirement.extras)
        )
    assert "torch" not in pulled, "a serving dependency pulls in torch"
    assert {"kserve", "onnxruntime"} <= pulled


def _run_wheels_stage(env: dict[str, str]) -> tuple[list[str], str]:
    """The shared build stage's RUN command, by sh over a copy of the tree, with pip
    replaced by an echo (and python by this one): the pip commands it runs, and the
    requirements it writes."""
    (run,) = _values(stages(WHEELS)[0], "RUN")
    with tempfile.TemporaryDirectory() as scratch:
        shutil.copy(ROOT / "pyproject.toml", scratch)
        for folder in ("components", "pipelines", "serving"):
            shutil.copytree(ROOT / folder, Path(scratch) / folder)
        shims = f'pip() {{ echo "pip $*"; }}; python() {{ "{sys.executable}" "$@"; }}; '
        script = shims + run.replace("/wheels", f"{scratch}/wheels")
        done = subprocess.run(
            ["sh", "-c", script],
            cwd=scratch,
            env={"PATH": "/usr/bin:/bin", **env},
            capture_output=True,
            text=True,
            check=True,
        )
        requirements = Path(scratch) / "wheels" / "requirements.txt"
        written = requirements.read_text() if requirements.is_file() else ""
    pips = [line.replace(scratch, "") for line in done.stdout.splitlines()]
    return pips, written


def test_the_drift_image_installs_its_extra_alone_and_sluice_without_dependencies():
    """As `make venv-drift` does: the drift extra's numpy<2 cannot be resolved together with
    the base dependencies' numpy>=2."""
    rows = image_rows()
    assert {name: row["deps"] for name, row in rows.items()} == {
        "sluice": "project",
        "sluice-serving": "project",
        "sluice-drift": "extras",
    }
    drift = rows["sluice-drift"]
    pips, written = _run_wheels_stage(
        {"EXTRAS": drift["extras"], "PACKAGES": drift["packages"], "DEPS": drift["deps"]}
    )
    assert pips == [
        "pip wheel --no-cache-dir --wheel-dir /wheels -r /wheels/requirements.txt",
        "pip wheel --no-cache-dir --wheel-dir /wheels --no-deps .",
    ]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert written.splitlines() == extras["drift"]
    final = stages(ROOT / drift["dockerfile"])[-1]
    (install,) = _values(final, "RUN")[1:]
    assert "-r /wheels/requirements.txt" in install
    assert '--no-deps "sluice==' in install
    assert _values(final, "ENTRYPOINT") == ['["python", "-m", "serving.drift.service"]']
    pips, _ = _run_wheels_stage({"EXTRAS": "serve", "PACKAGES": "serving", "DEPS": "project"})
    assert pips == ["pip wheel --no-cache-dir --wheel-dir /wheels .[serve]"]
