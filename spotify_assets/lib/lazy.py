"""Heavy modules imported on first use, so loading the code location stays fast.

Every run, sensor tick and ``dg check defs`` loads the whole code location, while pandas is
needed only by the steps that build a frame. A module that uses pandas in function bodies
writes::

    if TYPE_CHECKING:
        import pandas as pd
    else:
        from spotify_assets.lib.lazy import pandas as pd

and pandas is imported the first time an attribute (``pd.DataFrame``) is read. Nothing is put
in ``sys.modules`` before that, so ``spotify_assets_tests/defs/test_load_imports.py`` sees
what loading really imports. A name read at module scope (a default value, a base class)
imports the module at load: keep those inside functions.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any


class LazyModule:
    """Stands for module ``name`` until an attribute is read, then imports it; each attribute
    read is kept on the instance, so later reads cost what a module attribute does."""

    def __init__(self, name: str) -> None:
        self._lazy_name = name

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            # probes of private names must not import the module: Dagster looks for its
            # ``__dagster_*`` markers on every module-scope object, copy and pickle for dunders
            raise AttributeError(attr)
        value = getattr(self.module, attr)
        setattr(self, attr, value)
        return value

    @property
    def module(self) -> ModuleType:
        return importlib.import_module(self._lazy_name)

    def __repr__(self) -> str:
        return f"<lazy module {self._lazy_name!r}>"


pandas = LazyModule("pandas")
spotipy = LazyModule("spotipy")

if TYPE_CHECKING:
    from pandas import DataFrame as DataFrameHint
else:
    #: The hint of an asset's frame input or output. Dagster resolves asset functions' hints
    #: when the code location loads, so a ``pd.DataFrame`` hint would import pandas there;
    #: type checkers still see ``pandas.DataFrame``.
    DataFrameHint = Any
