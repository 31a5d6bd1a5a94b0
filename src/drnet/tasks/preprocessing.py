"""The preprocessing a task's weights expect, kept in its checkpoints and given to its data.

``drnet fit`` checkpoints record the normalisation (and class names and colours) the model was
trained with, so that validate, test, predict and export on the checkpoint use the same; before
the first checkpoint, the weights the model was built with (``model.preprocessing``) say.
"""

from __future__ import annotations

from typing import Any

from drnet.models.checkpoint_files import PREPROCESSING_KEY
from drnet.models.preprocessing import Preprocessing


class RecordsPreprocessing:
    """Mixin for a ``LightningModule`` with a ``model`` and ``class_names``."""

    _checkpoint_preprocessing: Preprocessing | None = None

    @property
    def weights_preprocessing(self) -> Preprocessing | None:
        """What the current weights expect: a loaded checkpoint's record, else the model's."""
        return self._checkpoint_preprocessing or getattr(self.model, "preprocessing", None)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        trainer = getattr(self, "_trainer", None)
        data = trainer.datamodule if trainer is not None else None
        if data is not None and hasattr(data, "mean"):
            record = Preprocessing(data.mean, data.std, tuple(self.class_names),
                                   getattr(data, "palette", None),
                                   f"the training data of this checkpoint ({type(data).__name__})")
        else:
            record = self.weights_preprocessing
        if record is not None:
            checkpoint[PREPROCESSING_KEY] = record.to_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        stored = checkpoint.get(PREPROCESSING_KEY)
        if not isinstance(stored, dict):
            return  # written before drnet recorded it, or by other code
        record = Preprocessing.from_dict(stored)
        self._checkpoint_preprocessing = record
        self.model.preprocessing = record
        trainer = getattr(self, "_trainer", None)
        data = trainer.datamodule if trainer is not None else None
        if data is not None and hasattr(data, "adopt_preprocessing"):
            said = data.adopt_preprocessing(record, training=trainer.state.fn == "fit")
            if said and trainer.is_global_zero:
                print(said, flush=True)
