"""Developer sessions: ``nox -s tests | lint | typecheck | docs | bench | demo``.

Every session is a thin wrapper that installs the package with the extra it needs and runs
one command, forwarding ``session.posargs`` (``nox -s tests -- -k affine``).
"""

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "docs"]
nox.options.reuse_existing_virtualenvs = True


#: Test folders run in a second pytest process: after ~400 tests in one process, XLA's CPU
#: compiler crashed (segfault) while compiling for these, which pass in a fresh process.
SEPARATE = ("tests/test_vae", "tests/test_elbo")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite with jaxtyping + beartype runtime checking (see pyproject addopts)."""
    session.install("-e", ".[dev]")
    if session.posargs:
        session.run("pytest", *session.posargs)
        return
    # Two workers (pytest-xdist), one test file each at a time (module fixtures are shared).
    workers = ["-n", "2", "--dist", "loadfile"]
    session.run("pytest", *workers, *(f"--ignore={d}" for d in SEPARATE))
    session.run("pytest", *workers, *SEPARATE)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint and format check."""
    session.install("ruff==0.17.6")  # pinned: formatting must not drift between machines
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Pyright (standard mode, settings in pyproject.toml) over the package and the tests."""
    # tensorboard: the optional writer and its test import tensorboardX, which must resolve
    session.install("-e", ".[dev,tensorboard]")
    # `--project .`: this repository's settings, whatever configuration a parent folder holds
    session.run("pyright", "--project", ".", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation with warnings as errors."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Throughput benchmarks; writes JSON under ``bench-results/`` and prints tables.

    PyTorch comparisons run when torch is importable (``.[bench]`` installs it).
    """
    session.install("-e", ".[dev,bench]")
    session.run("python", "benchmarks/run_all.py", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """The main job on built-in data: ``sgm-eqx demo --out demo-out``."""
    session.install("-e", ".")
    args = session.posargs or ["--out", "demo-out"]
    session.run("sgm-eqx", "demo", *args)


@nox.session
def recovery(session: nox.Session) -> None:
    """The ground-truth recovery suite: ``python benchmarks/recovery.py --out recovery-out``."""
    session.install("-e", ".")
    args = session.posargs or ["--out", "recovery-out"]
    session.run("python", "benchmarks/recovery.py", *args)
