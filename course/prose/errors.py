"""The one error of ``course.prose``, at the bottom of its layers."""
from __future__ import annotations


class ProseError(ValueError):
    """A marker that cannot be rendered: unknown key, unclosed or misplaced marker."""
