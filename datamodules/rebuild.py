"""The data side of a trained model, rebuilt from the settings its checkpoint saved.

Lightning saves the data module's ``__init__`` arguments in every checkpoint
(``datamodule_hyper_parameters``). Prediction and ensembles rebuild the data module from them here,
so the module they get reads the same source, the same clip settings and cache folder and the same
split as the training run did, through the same code (:class:`AlgonautsDataModule`'s
``release``, ``cache_dir``, ``clip_cache_in`` and ``split_of``); a setting a checkpoint predates
takes the default of :meth:`AlgonautsDataModule.__init__`, the one place any default lives.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping

from datamodules.algonauts import AlgonautsDataModule

#: Settings earlier versions saved that no longer change what is read (dropped when rebuilding).
RETIRED_SETTINGS = frozenset({"predict_videos"})


class DataSettingsError(ValueError):
    """Saved data settings this version's data module does not know."""


def default_settings() -> dict:
    """Every ``data.*`` setting with its default: :class:`AlgonautsDataModule`'s ``__init__`` signature."""
    parameters = inspect.signature(AlgonautsDataModule.__init__).parameters
    return {name: p.default for name, p in parameters.items() if name != "self"}


def data_settings(saved: Mapping) -> dict:
    """Every ``data.*`` setting a run was trained with: the ``saved`` ones (a checkpoint's
    ``datamodule_hyper_parameters``, without LightningCLI's ``_``-prefixed bookkeeping or
    :data:`RETIRED_SETTINGS`), the defaults for the rest.

    Raises :class:`DataSettingsError` naming saved settings this version does not know (the
    checkpoint is from a newer version, or not this tool's).
    """
    defaults = default_settings()
    kept = {k: v for k, v in dict(saved).items() if not k.startswith("_") and k not in RETIRED_SETTINGS}
    if unknown := sorted(set(kept) - set(defaults)):
        raise DataSettingsError(f"data settings {unknown} are not settings of this version's data module "
                                f"(it has {', '.join(defaults)}): a checkpoint from another version?")
    return {**defaults, **kept}


def datamodule_from_checkpoint(saved: Mapping, **overrides) -> AlgonautsDataModule:
    """The data module a run was trained with (:func:`data_settings` of ``saved``), ``overrides``
    replacing settings (``root``, ``video_backend``, ``subjects``, ...). Reads nothing until asked."""
    settings = data_settings(saved)
    if unknown := sorted(set(overrides) - set(settings)):
        raise DataSettingsError(f"{unknown} are not data settings; the data module has {', '.join(settings)}")
    return AlgonautsDataModule(**{**settings, **overrides})
