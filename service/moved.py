"""Module paths from before the core and adapters split, importable for one more release."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType


class MovedModule(importlib.abc.Loader):
    """Loads an old path as a module that re-exports the new one's names, with a DeprecationWarning."""

    def __init__(self, new: str) -> None:
        self.new = new

    def exec_module(self, module: ModuleType) -> None:
        """Fill the old module with the new one's public and private names."""
        warnings.warn(f"{module.__name__} has moved to {self.new}; the old path goes in the next release", DeprecationWarning, stacklevel=2)
        target = importlib.import_module(self.new)
        module.__dict__.update({name: value for name, value in vars(target).items() if not name.startswith("__")})


class MovedModules(importlib.abc.MetaPathFinder):
    """Finds old module paths (service.answer, eval.bench, …) and loads them as their new modules."""

    def __init__(self, moved: dict[str, str]) -> None:
        self.moved = moved

    def find_spec(self, name: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        """A spec for an old path, else None (the normal finders carry on)."""
        new = self.moved.get(name)
        return importlib.util.spec_from_loader(name, MovedModule(new)) if new else None


def keep_old_paths(moved: dict[str, str]) -> None:
    """Make the old paths importable (once per mapping)."""
    if not any(isinstance(finder, MovedModules) and finder.moved == moved for finder in sys.meta_path):
        sys.meta_path.append(MovedModules(moved))
