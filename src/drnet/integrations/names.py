"""How drnet's models are named in other libraries (no third-party imports: the Hub's config
writer needs the timm name without importing timm)."""

from __future__ import annotations

from drnet.models import get_entry

TIMM_PREFIX = "drnet_"  # drnet's backbone <name> is drnet_<name> in timm's registry
PYRAMID_SUFFIX = "_os32"  # DRN-C/D at output stride 32 by default: SMP's encoders
BACKBONE_FAMILIES = ("resnet", "drn")  # the registry families timm gets


def timm_architecture(drnet_name: str) -> str | None:
    """timm's name for drnet model ``drnet_name``, or None where timm has none (segmentation
    and detection models)."""
    if get_entry(drnet_name).family not in BACKBONE_FAMILIES:
        return None
    return TIMM_PREFIX + drnet_name
