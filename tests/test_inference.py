"""Sliding-window and multi-scale inference equal whole-image inference where they must."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from drnet import create_model
from drnet.inference import InferenceConfig, predict_sliding, predict_whole, segment


def _pointwise_model() -> nn.Module:
    """A 1x1 conv: every output pixel depends on its own input pixel only, so any window,
    mirror or tiling must give exactly the whole-image answer."""
    torch.manual_seed(0)
    return nn.Conv2d(3, 4, 1).eval()


@torch.no_grad()
def test_window_covering_the_image_equals_whole() -> None:
    model = create_model("drnseg_d_22", num_classes=3).eval()
    x = torch.randn(1, 3, 40, 56)
    whole = predict_whole(model, x)
    torch.testing.assert_close(predict_sliding(model, x, (40, 56), (40, 56)), whole)
    # A window larger than the image: padded, then cropped back -- not the same function in
    # general (more context), but the shape and normalisation must hold.
    bigger = predict_sliding(model, x, (64, 64), (32, 32))
    assert bigger.shape == whole.shape
    torch.testing.assert_close(bigger.sum(1), torch.ones(1, 40, 56))


@torch.no_grad()
def test_overlapping_windows_average_to_whole_for_a_pointwise_model() -> None:
    model = _pointwise_model()
    x = torch.randn(2, 3, 37, 53)
    whole = predict_whole(model, x)
    for crop, stride in [((16, 16), (8, 8)), ((20, 30), (7, 11)), ((37, 10), (37, 3))]:
        torch.testing.assert_close(predict_sliding(model, x, crop, stride), whole)


class _WindowMean(nn.Module):
    """Every output pixel is the mean of the whole input window, per channel: the answer
    depends on where each window lies, so a wrong tiling cannot pass (unlike a 1x1 conv)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x.mean(dim=(-2, -1), keepdim=True).expand_as(x)


@torch.no_grad()
def test_sliding_windows_by_hand() -> None:
    """A 10x13 image, 4x6 windows stepping 3 rows and 4 columns: row starts 0, 3 and 6 (the
    last flush with the bottom), column starts 0, 4 and 7 (flush with the right)."""
    model = _WindowMean()
    x = torch.randn(2, 3, 10, 13)
    got = predict_sliding(model, x, (4, 6), (3, 4), window_batch=1)
    assert model.calls == 9
    batched = predict_sliding(model, x, (4, 6), (3, 4), window_batch=4)
    assert model.calls == 9 + 3  # the 9 windows in passes of 4, 4 and 1
    torch.testing.assert_close(batched, got)
    predict_sliding(model, x, (4, 6), (3, 4))  # default on a CPU: one window per pass
    assert model.calls == 9 + 3 + 9

    def probs(top: int, left: int) -> torch.Tensor:  # one window's softmax, (N, C, 1, 1)
        return x[..., top:top + 4, left:left + 6].mean(dim=(-2, -1), keepdim=True).softmax(1)

    # pixel (0, 0): window (0, 0) only; (4, 5): rows 3-6 and columns 0-5 or 4-9;
    # (6, 7): rows 3-6 or 6-9 and columns 4-9 or 7-12 (four windows)
    torch.testing.assert_close(got[..., 0:1, 0:1], probs(0, 0))
    torch.testing.assert_close(got[..., 4:5, 5:6], (probs(3, 0) + probs(3, 4)) / 2)
    torch.testing.assert_close(got[..., 6:7, 7:8],
                               (probs(3, 4) + probs(3, 7) + probs(6, 4) + probs(6, 7)) / 4)
    total, count = torch.zeros(2, 3, 10, 13), torch.zeros(10, 13)
    for top in (0, 3, 6):
        for left in (0, 4, 7):
            total[..., top:top + 4, left:left + 6] += probs(top, left)
            count[top:top + 4, left:left + 6] += 1
    torch.testing.assert_close(got, total / count)
    config = InferenceConfig(mode="slide", crop_size=(4, 6), stride=(3, 4))
    torch.testing.assert_close(segment(model, x, config), total / count)


@torch.no_grad()
def test_a_window_larger_than_the_image_sees_zero_padding() -> None:
    """A 3x5 image in a 4x8 window: padded with zeros (the mean colour after normalisation)
    at the bottom and right, so the window mean is the image's sum over 32 pixels."""
    model = _WindowMean()
    x = torch.randn(1, 2, 3, 5)
    got = predict_sliding(model, x, (4, 8), (2, 8))
    assert model.calls == 1
    assert got.shape == (1, 2, 3, 5)
    expected = (x.sum(dim=(-2, -1), keepdim=True) / 32).softmax(1).expand(1, 2, 3, 5)
    torch.testing.assert_close(got, expected)


@torch.no_grad()
def test_single_scale_without_flip_is_whole() -> None:
    model = create_model("drnseg_d_22", num_classes=3).eval()
    x = torch.randn(1, 3, 33, 47)
    torch.testing.assert_close(segment(model, x, InferenceConfig()), predict_whole(model, x))
    config = InferenceConfig(mode="slide", crop_size=(33, 47), stride=(33, 47))
    torch.testing.assert_close(segment(model, x, config), predict_whole(model, x))


@torch.no_grad()
def test_flip_and_scales_average_probabilities() -> None:
    model = _pointwise_model()
    x = torch.randn(1, 3, 32, 48)
    whole = predict_whole(model, x)
    torch.testing.assert_close(segment(model, x, InferenceConfig(flip=True)), whole)
    # At scale 2 the upsampled-then-downsampled map is an exact 2x2 average for a pointwise
    # model on a bilinear resize; check against that independent computation.
    multi = segment(model, x, InferenceConfig(scales=(1.0, 0.5)))
    half = torch.nn.functional.interpolate(x, scale_factor=0.5, mode="bilinear",
                                           align_corners=False)
    back = torch.nn.functional.interpolate(predict_whole(model, half), size=(32, 48),
                                           mode="bilinear", align_corners=False)
    torch.testing.assert_close(multi, (whole + back) / 2)
    model_lr = create_model("drnseg_d_22", num_classes=3).eval()
    flipped = segment(model_lr, x, InferenceConfig(flip=True))
    expected = (predict_whole(model_lr, x) + predict_whole(model_lr, x.flip(-1)).flip(-1)) / 2
    torch.testing.assert_close(flipped, expected)


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="leave pixels unpredicted"):
        InferenceConfig(mode="slide", crop_size=(8, 8), stride=(9, 8))
    with pytest.raises(ValueError, match="'whole' or 'slide'"):
        InferenceConfig(mode="tiles")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scales must be positive"):
        InferenceConfig(scales=())


class _CountingModel(nn.Module):
    """Records the batch size of every forward pass."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.batches: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batches.append(x.shape[0])
        return self.model(x)


@torch.no_grad()
def test_windows_run_in_batches_with_the_same_result() -> None:
    torch.manual_seed(0)
    model = create_model("drnseg_d_tiny", num_classes=3).eval()
    x = torch.randn(2, 3, 50, 70)  # 3 x 4 = 12 windows of 24x24 at stride 16x16
    one_at_a_time = _CountingModel(model)
    reference = predict_sliding(one_at_a_time, x, (24, 24), (16, 16), window_batch=1)
    assert one_at_a_time.batches == [2] * 12
    # Each window on its own, independently of predict_sliding's bookkeeping.
    for top, left in [(0, 0), (26, 46)]:
        window = predict_whole(model, x[..., top:top + 24, left:left + 24])
        if (top, left) == (0, 0):  # covered by this window only where no other overlaps
            torch.testing.assert_close(reference[..., :16, :16], window[..., :16, :16])
        else:
            torch.testing.assert_close(reference[..., -8:, -8:], window[..., -8:, -8:])
    for window_batch, calls in [(5, [10, 10, 4]), (12, [24]), (50, [24])]:
        counting = _CountingModel(model)
        config = InferenceConfig(mode="slide", crop_size=(24, 24), stride=(16, 16),
                                 window_batch=window_batch)
        torch.testing.assert_close(segment(counting, x, config), reference, rtol=1e-5,
                                   atol=1e-6)
        assert counting.batches == calls


def test_window_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window_batch must be >= 1, got 0"):
        InferenceConfig(mode="slide", window_batch=0)
