"""The set-up the two commands rely on: pinned dependencies that agree with each other and with the
installed environment, and a Makefile whose targets do what the README says."""

from __future__ import annotations

import re
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
IGNORED = {"gendan", "pip", "setuptools", "wheel"}


def constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, version = line.partition("==")
        assert version, f"constraints.txt: {line!r} is not pinned with =="
        pins[canonicalize_name(name)] = version
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs.extend(extra)
    return [Requirement(r) for r in reqs]


class TestPinnedDependencies:
    def test_every_direct_dependency_is_pinned_exactly(self):
        loose = [str(r) for r in declared() if not re.fullmatch(r"==[^,*]+", str(r.specifier))]
        assert loose == []

    def test_pyproject_and_constraints_agree(self):
        pins = constraints()
        disagree = {r.name: (str(r.specifier), pins.get(canonicalize_name(r.name))) for r in declared()
                    if pins.get(canonicalize_name(r.name)) != str(r.specifier).removeprefix("==")}
        assert disagree == {}, "update constraints.txt with `make constraints`"

    def test_constraints_match_the_installed_environment(self):
        installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
        installed = {k: v for k, v in installed.items() if k not in IGNORED}
        pins = constraints()
        missing = sorted(set(installed) - set(pins))
        stale = sorted(set(pins) - set(installed))
        differ = {k: (pins[k], installed[k]) for k in set(pins) & set(installed) if pins[k] != installed[k]}
        assert (missing, stale, differ) == ([], [], {}), "run `make constraints` after changing pyproject.toml"


class TestMakefile:
    def dry_run(self, *targets: str) -> str:
        result = subprocess.run(["make", "-n", "-B", *targets], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def test_run_installs_migrates_loads_demo_then_serves(self):
        out = self.dry_run("run")
        steps = ["python3 -m venv .venv", "pip install", "-c constraints.txt", "npm ci --prefix frontend",
                 "scripts/vendor.py", "gendan serve --prepare --host 127.0.0.1 --port 8000"]
        positions = [out.find(step) for step in steps]
        assert -1 not in positions, out
        assert positions == sorted(positions), out

    def test_test_runs_pytest_on_two_workers_after_the_browser(self):
        out = self.dry_run("test")
        assert "chromium" in out
        assert re.search(r"pytest -n \S+ --dist loadgroup", out), out
        assert out.find("chromium") < out.find("pytest -n")

    def test_ci_calls_make_test(self):
        script = (ROOT / ".ci" / "run").read_text()
        assert (ROOT / ".ci" / "run").stat().st_mode & 0o111
        assert re.search(r"^(timeout .* )?make test\b", script, re.M)
