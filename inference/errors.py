"""Errors that Relit reports to users: each carries a message fit to show as it is."""


class RelitError(Exception):
    """Base class: a problem with the input or the installation, not a bug."""

    exit_code = 1


class InputError(RelitError):
    """Unreadable, unsupported or inconsistent input."""

    exit_code = 2


class ModelNotInstalled(RelitError):
    """A network that a step needs is missing or corrupt."""

    exit_code = 3

    def __init__(self, name: str, reason: str = ""):
        self.name = name
        super().__init__(f"model not installed: {name}" + (f" ({reason})" if reason else ""))


class ManifestUnreadable(ModelNotInstalled):
    """The models folder's manifest cannot be read, so none of its models can be used."""

    def __init__(self, message: str):
        self.name = None
        RelitError.__init__(self, message)


class OutputError(RelitError):
    """An output cannot be written (exists without overwrite, read-only folder, ...)."""

    exit_code = 4


class Cancelled(RelitError):
    """The user cancelled a long operation."""

    exit_code = 130

    def __init__(self, message: str = "cancelled"):
        super().__init__(message)


class RelitWarning(UserWarning):
    """Something degraded gracefully (no face found, values sanitised, ...)."""
