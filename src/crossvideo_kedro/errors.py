"""Errors shared by every layer of the package (a leaf module: it imports nothing from the package)."""


class DataError(ValueError):
    """Input data that does not meet its contract. The message names the file (and frame) and what was expected."""
