"""torch.hub entry points: ``torch.hub.load("<repo or dir>", "drn_d_22", pretrained=True)``.

Every registered drnet model is an entry point with ``create_model``'s keyword arguments.
"""

import sys
from pathlib import Path

dependencies = ["torch", "torchvision", "safetensors"]

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from drnet.models import create_model as _create_model  # noqa: E402
from drnet.models import list_models as _list_models  # noqa: E402


def _entry_point(name: str):
    def build(**kwargs):
        return _create_model(name, **kwargs)

    build.__name__ = name
    build.__doc__ = f"drnet {name}; keyword arguments as drnet.create_model (pretrained=...)."
    return build


for _name in _list_models():
    globals()[_name] = _entry_point(_name)
