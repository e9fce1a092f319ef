"""`pip install .` yields a package that serves: the wheel holds the templates, the static
files, the OpenAPI description (the file's text, not the symlink) and `gen`, and the app
imported from the unzipped wheel alone answers /openapi.yaml, /docs and /demo.

The source tree is copied to tmp_path first, so the build's `build/` and `*.egg-info`
never land in the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

EXPECTED = [
    "lib/web/openapi.yaml",
    "lib/web/templates/demo.html",
    "lib/web/templates/docs.html",
    "lib/web/static/demo.js",
    "lib/web/static/demo.css",
    "lib/web/app.py",
    "lib/settings.py",
    "gen/__init__.py",
    "gen/models.py",
]

# left out of the copy: at the top of the repo, local state and artifacts; anywhere, caches
TOP_LEVEL_SKIP = {".venv", ".git", ".corpus", "data", "test-artifacts", "build", "dist"}
CACHES = shutil.ignore_patterns(
    "*.egg-info", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis"
)


def skip(folder: str, names: list[str]) -> set[str]:
    skipped = set(CACHES(folder, names))
    if Path(folder) == REPO:
        skipped |= TOP_LEVEL_SKIP & set(names)
    if Path(folder) == REPO / "bench":
        skipped |= {"work"} & set(names)
    return skipped


SERVE = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import lib
    from lib.settings import Settings
    from lib.web.app import create_app

    print(lib.__file__)
    tmp = Path(sys.argv[1])
    app = create_app(Settings(db=tmp / "s.db", storage=str(tmp / "uploads"), auth="open"))
    c = app.test_client()

    r = c.get("/openapi.yaml")
    assert r.status_code == 200, r.status_code
    assert r.get_data(as_text=True).startswith("openapi:"), r.get_data(as_text=True)[:80]
    r = c.get("/docs")
    assert r.status_code == 200, r.status_code
    r = c.get("/demo")
    assert r.status_code == 200, r.status_code
    assert r.mimetype == "text/html", r.mimetype
    assert "<html" in r.get_data(as_text=True).lower()
    r = c.get("/demo/static/demo.js")
    assert r.status_code == 200, r.status_code
    assert r.get_data(), "empty demo.js"
    print("served")
    """
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("packaging")
    src = base / "src"
    # symlinks=True keeps lib/web/openapi.yaml a link, as in the repo: the build must resolve it
    shutil.copytree(REPO, src, symlinks=True, ignore=skip)
    out = base / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(out)],
        cwd=src,
        check=True,
        capture_output=True,
        text=True,
        timeout=240,
    )
    (built,) = out.glob("cleared-*.whl")
    return built


@pytest.mark.slow
def test_wheel_holds_the_data_files_and_gen(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        for name in EXPECTED:
            assert name in names, f"{name} missing from {wheel.name}"
        assert not [n for n in names if n.startswith(("tests/", "bench/"))]
        info = z.getinfo("lib/web/openapi.yaml")
        # a symlink stored as such carries S_IFLNK in the upper bits of external_attr
        assert (info.external_attr >> 16) & 0o170000 != 0o120000
        assert z.read("lib/web/openapi.yaml") == (REPO / "openapi.yaml").read_bytes()


@pytest.mark.slow
def test_the_unzipped_wheel_serves(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    run = tmp_path / "run"
    run.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLEARED_")}
    env["PYTHONPATH"] = str(site)
    done = subprocess.run(
        [sys.executable, "-c", SERVE, str(run)],
        cwd=run,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert Path(lines[0]).resolve() == (site / "lib" / "__init__.py").resolve(), lines[0]
    assert lines[-1] == "served"
