"""Build the bulk-import of commit f310f88 ("today's" behaviour) once, to run beside HEAD's.

f310f88 is the last commit before the adaptive concurrency window: a fixed pool of
``--concurrency`` workers under ``throttle.Throttle``'s adaptive *rate* cap. The figures of
issue 10 run its CLI seconds apart from HEAD's, on the same sandbox (HEAD's), so both are
measured under the same load.

The build is a cache folder (``$XDG_CACHE_HOME/bulk-import-bench/f310f88``, else
``~/.cache/...``): the commit's ``bulk_import/`` from ``git archive``, and a virtualenv made
without pip whose one ``.pth`` file puts that source first and this interpreter's
site-packages after it. Its dependencies (httpx, httpx-aiohttp, tenacity, phonenumbers, pandas,
openpyxl, python-calamine, click, tqdm) are this environment's: nothing is downloaded, and the
``.pth`` files of this environment (the editable install of HEAD among them) are not read there.
"""

from __future__ import annotations

import io
import os
import site
import subprocess
import sysconfig
import tarfile
import venv
from pathlib import Path

from benchmarks.harness import HERE, BenchError, Tool

TODAY_COMMIT = "f310f88"


def cache_root() -> Path:
    """Return the folder the build of today's commit is kept in."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bulk-import-bench" / TODAY_COMMIT


def build_today(root: Path | None = None) -> Tool:
    """Build today's CLI in ``root`` (the cache folder) unless it is there; return its Tool."""
    root = root or cache_root()
    source = root / "src"
    env_dir = root / "venv"
    if not (source / "bulk_import" / "__init__.py").exists():
        _extract(source)
    python = env_dir / "bin" / "python"
    if not python.exists():
        venv.create(env_dir, with_pip=False, clear=True)
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = [*site.getsitepackages(), sysconfig.get_paths()["purelib"]]
    paths = [str(source), *dict.fromkeys(p for p in ours if Path(p).is_dir())]
    (Path(purelib) / "bulk_import_bench.pth").write_text("\n".join(paths) + "\n", "utf-8")
    check = subprocess.run(
        [str(python), "-P", "-c", "import bulk_import, httpx; print(bulk_import.__file__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    if check.returncode != 0 or not check.stdout.strip().startswith(str(source)):
        raise BenchError(f"today's build in {root} does not import: {check.stderr.strip()}")
    # -P: the current folder (a checkout of HEAD, for make bench) must not come first.
    return Tool(TODAY_COMMIT, (str(python), "-P", "-m", "bulk_import"))


def _extract(source: Path) -> None:
    """Write the commit's ``bulk_import/`` into ``source`` (``git archive``)."""
    repo = HERE.parent.parent
    try:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", TODAY_COMMIT, "bulk_import"],
            cwd=repo,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BenchError(f"git archive {TODAY_COMMIT} failed in {repo}: {exc}") from exc
    source.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(source, filter="data")
