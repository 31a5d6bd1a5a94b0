"""YAML configs for ``drnet fit|validate|test|predict`` (also at the repository's ``configs/``).

``drnet fit`` with neither ``--config`` nor ``--data``/``--model`` uses ``synthetic_context.yaml``.
"""

from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIG = CONFIG_DIR / "synthetic_context.yaml"


def list_configs() -> list[str]:
    """Names of the shipped configs (without ``.yaml``)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
