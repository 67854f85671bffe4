"""BUILD stays in step with the tree: every module and test is a target, every dep exists.

Bazel cannot fetch rules_python here, so BUILD is evaluated as Python with
stand-ins for `load`, `glob`, `package`, `py_library` and `py_test`.
"""
import glob as globlib
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("sslzoo", "models", "train", "export")


def starlark_glob(patterns, exclude=()):
    found = set()
    for pattern in patterns:
        found.update(os.path.relpath(p, REPO) for p in globlib.glob(os.path.join(REPO, pattern), recursive=True))
    for pattern in exclude:
        found -= {os.path.relpath(p, REPO) for p in globlib.glob(os.path.join(REPO, pattern), recursive=True)}
    return sorted(found)


def evaluate_build(text):
    """Runs BUILD text; returns {target name: attributes}."""
    targets = {}

    def rule(kind):
        def define(name, **attrs):
            if name in targets:
                raise ValueError(f"duplicate target {name!r}")
            targets[name] = {"kind": kind, **attrs}
        return define

    namespace = {
        "load": lambda *args, **kwargs: None,
        "package": lambda **kwargs: None,
        "glob": starlark_glob,
        "py_library": rule("py_library"),
        "py_test": rule("py_test"),
    }
    exec(compile(text, "BUILD", "exec"), namespace)
    return targets


@pytest.fixture(scope="module")
def targets():
    with open(os.path.join(REPO, "BUILD")) as f:
        return evaluate_build(f.read())


def covered_sources(targets):
    return {src for t in targets.values() for src in t.get("srcs", [])}


def test_every_module_is_in_a_library(targets):
    modules = {os.path.relpath(p, REPO) for pkg in PACKAGES
               for p in globlib.glob(os.path.join(REPO, pkg, "**", "*.py"), recursive=True)}
    assert modules, "no modules found: wrong repository root?"
    missing = sorted(modules - covered_sources(targets))
    assert not missing, f"modules not covered by any BUILD target: {missing}"


def test_every_test_file_has_a_py_test(targets):
    test_files = {os.path.relpath(p, REPO) for p in globlib.glob(os.path.join(REPO, "tests", "test_*.py"))}
    tested = {src for t in targets.values() if t["kind"] == "py_test" for src in t["srcs"]
              if os.path.basename(src).startswith("test_")}
    assert not sorted(test_files - tested), f"test files without a py_test: {sorted(test_files - tested)}"
    stale = sorted(tested - test_files)
    assert not stale, f"py_test targets whose file does not exist: {stale}"


def test_every_py_test_runs_pytest_on_its_file(targets):
    """A target whose main only imports the test module would pass whatever the tests say."""
    for name, target in (item for item in targets.items() if item[1]["kind"] == "py_test"):
        assert target["main"] == "tests/pytest_main.py", name
        test_file = [src for src in target["srcs"] if os.path.basename(src).startswith("test_")]
        assert target["args"] == [f"$(location {test_file[0]})"], name


def test_the_py_test_runner_returns_pytest_status(tmp_path):
    import subprocess
    import sys

    failing = tmp_path / "test_fails.py"
    failing.write_text("def test_fails():\n    assert False\n")
    passing = tmp_path / "test_passes.py"
    passing.write_text("def test_passes():\n    assert True\n")
    runner = os.path.join(REPO, "tests", "pytest_main.py")
    def status(path):
        return subprocess.run([sys.executable, runner, str(path)], capture_output=True, cwd=tmp_path).returncode

    assert status(failing) == 1
    assert status(passing) == 0


def test_every_dep_names_a_target(targets):
    for name, target in targets.items():
        for dep in target.get("deps", []):
            assert dep.startswith(":") and dep[1:] in targets, f"{name}: dep {dep!r} names no target"


def test_support_modules_are_listed(targets):
    support = {os.path.relpath(p, REPO) for p in globlib.glob(os.path.join(REPO, "tests", "*.py"))
               if not os.path.basename(p).startswith("test_")}
    assert support <= covered_sources(targets), sorted(support - covered_sources(targets))


def test_checker_catches_a_missing_dep():
    bad = 'py_library(name = "a", srcs = [], deps = [":nope"])'
    targets = evaluate_build(bad)
    with pytest.raises(AssertionError):
        test_every_dep_names_a_target(targets)
