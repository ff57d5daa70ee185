"""The one error type of the lab's planning modules and of lab.py."""


class LabError(Exception):
    """A problem the operator must fix; the message says what and where."""
