"""Let ``python -m bulk_import`` run the CLI."""

from bulk_import.cli import main

main(prog_name="bulk-import")
