"""The catalogue loader's error (its own module: the loader and the linked-entry composition both raise it)."""

from __future__ import annotations


class CatalogError(Exception):
    """A data file is wrong; the message names the file."""
