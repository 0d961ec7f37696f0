"""Let ``python -m bulk_import`` run the CLI."""

from bulk_import.cli import entry

if __name__ == "__main__":
    entry()
