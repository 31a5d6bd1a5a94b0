"""``forward_intermediates`` (timm's API) on drnet backbones: the same maps as ``features_only``
and ``forward_features``, through the one trunk loop."""

from __future__ import annotations

import torch

from drnet import create_model


def test_forward_intermediates_matches_features_only_and_forward_features() -> None:
    # timm's contract: the maps of the requested feature_info entries, and the last stage's map.
    torch.manual_seed(0)
    for name in ("resnet18", "drn_d_22"):
        model = create_model(name, output_stride=8).eval()
        x = torch.randn(1, 3, 64, 48)
        with torch.no_grad():
            final, maps = model.forward_intermediates(x)
            assert torch.equal(final, model.forward_features(x))
            listed = create_model(name, features_only=True, output_stride=8)
            listed.load_state_dict(model.state_dict(), strict=False)
            expected = listed.eval()(x)
            assert len(maps) == len(expected) == len(model.feature_info)
            for got, want, info in zip(maps, expected, model.feature_info, strict=True):
                assert torch.equal(got, want)
                assert got.shape[1] == info.num_chs
            last_two = model.forward_intermediates(x, indices=2, intermediates_only=True)
            assert [m.shape for m in last_two] == [m.shape for m in maps[-2:]]
            (first,) = model.forward_intermediates(x, indices=[0], stop_early=True,
                                                   intermediates_only=True)
            assert torch.equal(first, maps[0])
