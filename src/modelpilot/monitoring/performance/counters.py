"""Read-only counter attributes over one dict, so a summary's counters and sums export and merge together.

A :class:`Stat` on a class reads ``obj._s[name]`` through a conversion (``int`` for counts, ``float`` for sums) and
refuses assignment: the owner changes its own dict, callers only read.

Example:
    >>> class Tally:
    ...     hits = Stat(int, "Hits so far.")
    ...
    ...     def __init__(self) -> None:
    ...         self._s = {"hits": 2.0}
    >>> Tally().hits, Tally.hits.__doc__
    (2, 'Hits so far.')
    >>> Tally().hits = 3
    Traceback (most recent call last):
    ...
    AttributeError: hits is read-only
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar, overload

__all__ = ["Stat"]

T = TypeVar("T")


class Stat(Generic[T]):
    """A read-only attribute reading ``obj._s[name]`` (counters and sums kept in one dict for state and merge)."""

    def __init__(self, kind: Callable[[float], T], doc: str) -> None:
        self.kind, self.__doc__ = kind, doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Stat[T]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> T | Stat[T]:
        return self if obj is None else self.kind(obj._s[self.name])  # type: ignore[attr-defined]

    def __set__(self, obj: object, value: T) -> None:
        raise AttributeError(f"{self.name} is read-only")
