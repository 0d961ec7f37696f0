"""The sandbox's tests, one module for each module of bulk_import.sandbox."""
