"""``features_only`` models: a backbone's trunk that returns a list of stage maps."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from drnet.errors import DrnetValueError
from drnet.models.base import Backbone, FeatureInfo, check_input, run_trunk
from drnet.models.layout import CheckpointLayout


def resolve_out_indices(feature_info: Sequence[FeatureInfo], out_indices: Sequence[int] | None,
                        model_name: str = "model") -> tuple[int, ...]:
    """Normalise ``out_indices`` (negative allowed) into sorted, unique, valid indices."""
    n = len(feature_info)
    if out_indices is None:
        return tuple(range(n))
    indices = tuple(out_indices)
    if not indices or any(not isinstance(i, int) or not -n <= i < n for i in indices):
        raise DrnetValueError(f"out_indices for {model_name} must be non-empty ints in [-{n}, {n}) "
                              f"indexing {[f.module for f in feature_info]}, got {indices}")
    normalised = tuple(i % n for i in indices)
    if len(set(normalised)) != len(normalised) or list(normalised) != sorted(normalised):
        raise DrnetValueError(f"out_indices must be increasing without repeats, got {indices}")
    return normalised


class FeatureListNet(nn.Module):
    """The trunk of ``model`` up to its last requested stage, returning the requested maps.

    Children keep the backbone's names, so a backbone checkpoint loads into it unchanged (the
    head and the stages it leaves out are listed in ``unused_checkpoint_prefixes``).
    """

    def __init__(self, model: Backbone, out_indices: Sequence[int] | None = None) -> None:
        super().__init__()
        indices = resolve_out_indices(model.feature_info, out_indices, type(model).__name__)
        self.feature_info = tuple(model.feature_info[i] for i in indices)
        self.output_stride = self.feature_info[-1].reduction
        self.first_conv = model.first_conv
        self.in_chans = model.in_chans
        self._model_name = type(model).__name__
        returned = {f.module for f in self.feature_info}
        last = max(model.trunk_names.index(name) for name in returned)
        kept = model.trunk_names[: last + 1]
        for name in kept:
            self.add_module(name, getattr(model, name))
        self._keep = frozenset(returned)
        dropped = [n for n, _ in model.named_children() if n not in kept]
        self.unused_checkpoint_prefixes = (*model.unused_checkpoint_prefixes, *dropped)

    @property
    def checkpoint_layout(self) -> CheckpointLayout:
        """A backbone checkpoint's head and left-out stages are dropped silently."""
        return CheckpointLayout(self.first_conv, (), tuple(self.unused_checkpoint_prefixes))

    def forward(self, x: Tensor) -> list[Tensor]:
        check_input(x, self.in_chans, self._model_name,
                    self.get_submodule(self.first_conv).weight.dtype)
        return run_trunk(self.named_children(), x, self._keep)[1]
