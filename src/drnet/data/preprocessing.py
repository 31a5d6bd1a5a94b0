"""Make a DataModule's normalisation and class table agree with the model's weights.

A data set's statistics are chosen in this order: given explicitly (``mean``/``std``
arguments), the data set's own (the DRN list layout's ``info.json``, CIFAR-10's, the synthetic
sets'), the weights' (a pretrained tag, or the normalisation a ``drnet fit`` checkpoint was
trained with), ImageNet's. A disagreement is never resolved silently: an explicit choice and,
when training (fine-tuning on a data set with its own statistics, as the official DRN recipe
does), the data set's own statistics are kept and the difference is reported; evaluating or
predicting with statistics other than the weights' is an error unless they were given
explicitly.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

from drnet.errors import DrnetError
from drnet.models.preprocessing import Preprocessing, describe

StatisticsSource = Literal["argument", "data set", "default"]


class PreprocessingMismatchError(DrnetError, ValueError):
    """The data would be normalised otherwise than the weights expect."""


def reconcile(datamodule: Any, weights: Preprocessing | None, *, training: bool) -> str | None:
    """Adopt ``weights``' normalisation (and class names/colours where the data set has only
    generic ones) into ``datamodule``; return a line saying what changed, or ``None``.

    ``datamodule`` has ``mean``, ``std``, ``statistics_source`` and, for segmentation,
    ``class_names``, ``palette`` and ``generic_class_table``.
    """
    if weights is None:
        return None
    name = type(datamodule).__name__
    said: list[str] = []
    if not weights.same_statistics(datamodule.mean, datamodule.std):
        source: StatisticsSource = datamodule.statistics_source
        if source == "default":
            datamodule.mean, datamodule.std = weights.mean, weights.std
            said.append(f"normalising with {describe(weights.mean, weights.std)}, the "
                        f"statistics of {weights.source}")
        else:
            where = ("given as mean/std" if source == "argument"
                     else "the data set's own")
            text = (f"{name} normalises with {describe(datamodule.mean, datamodule.std)} "
                    f"({where}) but {weights.source} expect "
                    f"{describe(weights.mean, weights.std)}")
            if source == "data set" and not training:
                raise PreprocessingMismatchError(
                    f"{text}: pass --data.mean and --data.std (the weights' or the data "
                    f"set's) to choose")
            warnings.warn(f"{text}; using the {where.replace('given as ', '')} statistics"
                          f"{' (fine-tuning)' if training else ''}", stacklevel=2)
    names = getattr(datamodule, "class_names", None)
    if weights.class_names is not None and names is not None:
        if len(weights.class_names) != len(names):
            pass  # another label set (fine-tuning with a new head): nothing to match
        elif getattr(datamodule, "generic_class_table", False):
            datamodule.class_names = list(weights.class_names)
            if weights.palette is not None and hasattr(datamodule, "palette"):
                datamodule.palette = list(weights.palette)
            said.append(f"class names and colours of {weights.source}")
        elif tuple(names) != weights.class_names:
            warnings.warn(f"{name}'s class names {list(names)[:4]}... differ from those of "
                          f"{weights.source} {list(weights.class_names)[:4]}...: check that the "
                          f"label ids mean the same classes", stacklevel=2)
    return f"{name}: {'; '.join(said)}" if said else None
