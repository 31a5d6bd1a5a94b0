"""What ``drnet fit|validate|test|predict`` print: only what concerns the user.

Lightning prints advertisements ("Tip: ... litlogger"), a TPU line on machines without one,
warnings about its own internals and, after ``validate``/``test``, a results table that repeats
what drnet prints (:class:`~drnet.tasks.callbacks.EvaluationResults`). This module turns those
off and leaves Lightning's other messages (devices, checkpoints, the user's own settings) alone.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

# Lightning's rank-zero messages go through these loggers (lightning.pytorch's is the one set).
_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")
# Messages that say nothing about the user's run.
_NOISE = ("💡 Tip:", "TPU available: False")


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(_NOISE)


def quiet_lightning() -> None:
    """Drop Lightning's advertisements, its no-TPU line and warnings about its own code."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropNoise) for f in logger.filters):
            logger.addFilter(_DropNoise())
    # Lightning 2.6's own uses of deprecated jsonargparse/torch APIs: nothing a user can fix.
    warnings.filterwarnings("ignore", message=r".*deprecated in v4\.49\.0")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    # validate/test write to a run folder of their own on purpose; the checkpoint's folder is
    # not lost (Lightning: "The dirpath has changed ... won't be reloaded").
    warnings.filterwarnings("ignore", message=r"The dirpath has changed from")


class OneResultsTable:
    """LightningCLI mixin: ``validate`` and ``test`` without Lightning's results table (drnet
    prints the results once), unless ``--verbose true`` is given."""

    trainer: Any
    _given: Callable[[str], bool]  # DrnetCLI's: whether a key was set, not defaulted

    def validate(self, **kwargs: Any) -> Any:
        return self.trainer.validate(**self._quiet(kwargs))

    def test(self, **kwargs: Any) -> Any:
        return self.trainer.test(**self._quiet(kwargs))

    def _quiet(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {**kwargs, "verbose": self._given("verbose") and kwargs.get("verbose", False)}
