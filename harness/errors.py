"""Errors a user can act on: each names the file, entry, field or value at fault.

The CLI prints these as one clear message (no traceback); anything else is a bug.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base of every error caused by the user's input rather than by harness itself."""


class RegistryError(HarnessError):
    """An invalid registry file: names the file, the entry path and what was expected."""

    def __init__(self, source: str, where: str, message: str):
        self.source = source
        self.where = where
        self.message = message
        super().__init__(f"{source}: {where}: {message}")


class RegistryErrors(RegistryError):
    """Every error found in a set of registry files (``harness validate`` lists them all);
    its own fields are the first one's."""

    def __init__(self, errors: list[RegistryError]):
        self.errors = errors
        first = errors[0]
        super().__init__(first.source, first.where, first.message)
        self.args = ("\n".join(str(e) for e in errors),)

    @staticmethod
    def raise_any(errors: list[RegistryError]) -> None:
        """Raise the one error, or all of them together; nothing where there are none."""
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise RegistryErrors(errors)


class DataError(HarnessError):
    """A missing or malformed data file: names the file and, where known, the line."""

    def __init__(self, path: str, message: str, line: int | None = None):
        self.path = path
        self.line = line
        self.message = message
        loc = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{loc}: {message}")


class ConfigError(HarnessError):
    """An invalid option or combination of options on the command line or in a config."""
