"""PNG charts for marts (Dagster-free): one :class:`PlotSpec` and a small DataFrame in, bytes
out, drawn from the same Vega-Lite spec the dashboard makes interactive
(:func:`spotify_assets.lib.reports.vega.vega_spec`), so a chart has one definition.

The PNG goes into an asset's metadata (as a Markdown ``data:`` image): it is small (a few tens
of KB) and byte-for-byte deterministic, so re-materializing an unchanged mart does not produce
a "changed" chart. vl-convert renders it in-process without a browser and is thread-safe.
"""

from __future__ import annotations

import base64
import struct
from typing import TYPE_CHECKING

from spotify_assets.lib.marts.spec import PlotSpec
from spotify_assets.lib.reports.vega import fit_log10x, to_png, vega_spec

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd

__all__ = ["fit_log10x", "markdown_image", "png_size", "render"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def render(spec: PlotSpec, frame: pd.DataFrame) -> bytes:
    """PNG bytes of ``spec`` drawn from ``frame`` (the mart or the result of ``spec.query``)."""
    return to_png(vega_spec(spec, frame))


def markdown_image(png: bytes, alt: str) -> str:
    """A Markdown image whose URI embeds the PNG, for ``MetadataValue.md`` (no file to serve)."""
    alt = " ".join(alt.split()).replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def png_size(png: bytes) -> tuple[int, int]:
    """``(width, height)`` in pixels from the PNG's IHDR chunk (no image library needed)."""
    if len(png) < 24 or png[:8] != _PNG_SIGNATURE or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", png[16:24])
    return width, height
