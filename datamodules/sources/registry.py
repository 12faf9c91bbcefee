"""Every data source the tool reads, by its ``data.source`` name, and detection from a root folder.

A new source is one module (or folder) under ``datamodules/sources/`` with a
:class:`~datamodules.sources.base.DataSource` subclass, added to :data:`SOURCES` below.
"""

from __future__ import annotations

from pathlib import Path

from datamodules.sources.algonauts2021 import Algonauts2021Source
from datamodules.sources.base import DataLayoutError, DataSource
from datamodules.sources.bmd import BMDSource
from datamodules.sources.folder import FolderSource

#: ``data.source`` name -> the source class, in the order detection lists them.
SOURCES: dict[str, type[DataSource]] = {source.name: source for source in (Algonauts2021Source, BMDSource,
                                                                                FolderSource)}
#: The ``data.source`` value that detects the layout from the root folder.
AUTO = "auto"
_SHOWN = 8


def source_names() -> list[str]:
    """Every value ``data.source`` takes: ``auto`` and each source's name."""
    return [AUTO, *SOURCES]


def check_source_name(name: str) -> None:
    if name not in source_names():
        raise ValueError(f"data.source must be one of {', '.join(source_names())}; got {name!r}")


def detect_source(root: str | Path) -> type[DataSource]:
    """The one source whose layout ``root`` holds.

    Raises :class:`DataLayoutError` in one line when ``root`` is missing, holds no known layout (naming
    what it holds and the layouts the tool reads) or holds several (naming them and ``data.source``).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataLayoutError(f"{root}: data folder not found")
    found = {source: marks for source in SOURCES.values() if (marks := source.found_in(root))}
    if len(found) == 1:
        return next(iter(found))
    if found:
        both = "; ".join(f"{source.name} ({', '.join(marks)})" for source, marks in found.items())
        raise DataLayoutError(f"{root}: holds the files of more than one layout: {both}; "
                              f"choose one with data.source ({', '.join(SOURCES)})")
    entries = sorted(root.iterdir(), key=lambda p: p.name)
    shown = [p.name + ("/" if p.is_dir() else "") for p in entries[:_SHOWN]]
    if len(entries) > _SHOWN:
        shown.append(f"and {len(entries) - _SHOWN} more")
    holds = ", ".join(shown) if shown else "nothing (an empty folder)"
    layouts = "; ".join(source.layout for source in SOURCES.values())
    raise DataLayoutError(f"{root}: no data layout this tool reads was found there (it holds {holds}); "
                          f"the layouts it reads: {layouts}")


def open_source(name: str, root: str | Path, kind: str | None = None) -> DataSource:
    """The source ``name`` (``auto``: the one :func:`detect_source` finds) over ``root``; with
    ``kind``, a source of another kind (time series where clips are read) is refused."""
    check_source_name(name)
    source = detect_source(root) if name == AUTO else SOURCES[name]
    if kind is not None and source.kind != kind:
        raise DataLayoutError(f"{root}: a {source.kind} dataset ({source.name}), but {kind} are read here; "
                              "choose another data.source or the data module for it")
    return source(root)
