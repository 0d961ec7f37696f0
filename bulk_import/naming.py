"""Name an option as its caller writes it, so that every refusal names what to change.

The same checks serve the command line (``--max-attempts 0``) and Python (``max_attempts=0``):
:mod:`bulk_import.library.options` and :mod:`bulk_import.library.twilio` build every message
through a :class:`Naming`. It imports nothing of the package, so that every layer (the
sources, normalize, the config) can name an option its caller's way.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Naming:
    """Write option names the command line's way (``cli``) or Python's."""

    cli: bool

    def option(self, name: str) -> str:
        """Return the option: ``--max-attempts`` or ``max_attempts=``."""
        return "--" + name.replace("_", "-") if self.cli else f"{name}="

    def given(self, name: str, value: object) -> str:
        """Return the option with the value given: ``--concurrency 0`` or ``concurrency=0``."""
        return f"{self.option(name)} {value}" if self.cli else f"{name}={value!r}"

    def placeholder(self, name: str, meta: str) -> str:
        """Return the option and a placeholder: ``--api-key-file PATH`` or ``api_key_file=PATH``."""
        return f"{self.option(name)} {meta}" if self.cli else f"{name}={meta}"

    def quoted(self, name: str, value: str) -> str:
        """Return the option with a text quoted: ``--sheet "Q3"`` or ``sheet='Q3'``."""
        return f'{self.option(name)} "{value}"' if self.cli else f"{name}={value!r}"

    def flag(self, name: str) -> str:
        """Return a flag turned on: ``--no-header`` or ``no_header=True``."""
        return self.option(name) if self.cli else f"{name}=True"

    def join(self, *options: str) -> str:
        """Return options given together: ``--no-header --sheet 2``, ``no_header=True, sheet=2``."""
        return (" " if self.cli else ", ").join(options)


CLI = Naming(cli=True)
PYTHON = Naming(cli=False)
