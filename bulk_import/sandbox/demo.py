"""The demo that ships inside the package: its faults file and the sample inputs.

``bulk-import sandbox --demo`` serves with the demo's faults (latency, a concurrency limit,
503s, dropped connections, three webhook failures, a Twilio stand-in of 1,200 numbers) and
writes the sample inputs into ``examples/`` in the current folder, so that the README's
rehearsal and every ``--help`` example (``bulk-import run examples/twilio-export.csv ...``) run
as written from an installed wheel as from a clone (whose ``examples/`` links to these very
files). A file already there is never replaced.
"""

from __future__ import annotations

import contextlib
import filecmp
import shutil
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Final

#: The folder, in the current one, the samples are written to: the --help examples' paths.
EXAMPLES: Final = Path("examples")
FAULTS: Final = "demo-faults.json"
#: The sample inputs, and the faults file (written too, so that it can be read and changed).
SAMPLES: Final = ("twilio-export.csv", "messy.csv", "ops-sheet.xlsx", FAULTS)


@contextlib.contextmanager
def demo_file(name: str) -> Iterator[Path]:
    """Yield a path to one of the demo's files, as the package holds it."""
    with resources.as_file(resources.files(__package__).joinpath("demo", name)) as path:
        yield path


def write_samples(folder: Path = EXAMPLES) -> list[str]:
    """Write the samples missing from ``folder``; return lines saying what is where.

    A file already there is kept as it is (a clone's own ``examples/``, or a file of the
    user's): the lines say whether it is the demo's.
    """
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        return [f"cannot write the sample inputs to {folder}/: {exc.strerror or exc}"]
    written: list[str] = []
    same: list[str] = []
    kept: list[str] = []
    for name in SAMPLES:
        target = folder / name
        with demo_file(name) as source:
            if target.exists():
                ours = target.is_file() and filecmp.cmp(source, target, shallow=False)
                (same if ours else kept).append(name)
                continue
            try:
                shutil.copyfile(source, target)
            except OSError as exc:
                return [f"cannot copy the demo's {name} to {target}: {exc.strerror or exc}"]
        written.append(name)
    lines = []
    if written:
        lines.append(f"wrote the demo's sample inputs to {folder}/: {', '.join(written)}")
    if same:
        lines.append(f"{folder}/ holds the demo's {', '.join(same)} already")
    if kept:
        lines.append(f"kept {', '.join(f'{folder}/{name}' for name in kept)}: not the demo's")
    return lines
