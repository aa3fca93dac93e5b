"""matplotlib, which only eval's plots need: an extra ([plot]), so a server install goes without it."""

from __future__ import annotations

from typing import Any


class PlottingUnavailable(ValueError):
    """matplotlib is not installed."""


def pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend; PlottingUnavailable saying how to install it."""
    try:
        import matplotlib
    except ImportError as error:
        raise PlottingUnavailable("plots need matplotlib: pip install -e '.[plot]'") from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
