"""The tasks' speed and memory options change how a model runs, never what it computes."""

from __future__ import annotations

import pytest
import torch

from drnet.fast.checkpointing import CheckpointedStage
from drnet.tasks import ClassificationTask, SegmentationTask
from tests.fixtures.models import random_norm_stats


def _task(**kwargs) -> SegmentationTask:
    torch.manual_seed(0)
    return SegmentationTask(model="drnseg_d_tiny", num_classes=5, print_class_table=False,
                            **kwargs)


def _loss_and_grads(task: SegmentationTask, image, mask):
    task.train()
    task.zero_grad()
    loss = task.training_step({"image": image, "mask": mask}, 0)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in task.named_parameters()}


def test_checkpointing_and_channels_last_keep_keys_loss_and_gradients():
    plain = _task(channels_last=False)
    fast = _task(channels_last=True, checkpointing="dilated")
    assert list(plain.state_dict()) == list(fast.state_dict())
    assert any(isinstance(m, CheckpointedStage) for m in fast.modules())
    assert not any(isinstance(m, CheckpointedStage) for m in plain.modules())
    conv = fast.model.backbone.layer1[0]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    image, mask = torch.randn(2, 3, 45, 37), torch.randint(0, 5, (2, 45, 37))
    loss_a, grads_a = _loss_and_grads(plain, image, mask)
    loss_b, grads_b = _loss_and_grads(fast, image, mask)
    torch.testing.assert_close(loss_b, loss_a, rtol=1e-5, atol=1e-6)
    for name, grad in grads_a.items():
        torch.testing.assert_close(grads_b[name], grad, rtol=1e-3, atol=1e-5, msg=name)
    # the recomputed forward must not count as a second batch in BN's running statistics
    for (name, a), b in zip(plain.state_dict().items(), fast.state_dict().values(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=name)


def test_checkpointing_names_unknown_stage():
    with pytest.raises(ValueError, match="layer99"):
        _task(checkpointing=["layer99"])


@pytest.mark.parametrize(("dtype", "tol"), [(None, 1e-4), ("bf16", 3e-2)])
def test_fast_predict_matches_eager_model(dtype, tol):
    task = _task()
    random_norm_stats(task.model)  # fresh BNs (mean 0, var 1, weight 1, bias 0) fold to ~nothing
    task.eval()
    slow = _task(fast_predict=False)
    slow.load_state_dict(task.state_dict())
    slow.eval()
    batch = {"image": torch.randn(2, 3, 33, 50), "path": ["a", "b"]}
    fast = SegmentationTask(model="drnseg_d_tiny", num_classes=5, predict_dtype=dtype)
    fast.load_state_dict(task.state_dict())
    fast.on_predict_start()
    assert fast.predictor(fast.model) is not fast.model
    got = fast.predict_step(batch, 0)
    fast.on_predict_end()
    want = slow.predict_step(batch, 0)
    torch.testing.assert_close(got["confidence"], want["confidence"], rtol=tol, atol=tol)
    agree = (got["labels"] == want["labels"]).float().mean().item()
    assert agree > (0.999 if dtype is None else 0.95)


def test_classification_fast_predict_matches():
    torch.manual_seed(0)
    task = ClassificationTask(model="resnet18", num_classes=7)
    random_norm_stats(task.model)
    task.eval()
    image = torch.randn(3, 3, 64, 48)
    want = task.predict_step({"image": image}, 0)
    task.on_predict_start()
    got = task.predict_step({"image": image}, 0)
    torch.testing.assert_close(got["probs"], want["probs"], rtol=1e-4, atol=1e-5)
    assert torch.equal(got["indices"], want["indices"])


def test_predict_dtype_needs_the_fast_path():
    with pytest.raises(ValueError, match="fast_predict"):
        _task(fast_predict=False, predict_dtype="bf16")


def test_engine_runs_validation_and_prediction_like_the_model():
    from drnet.fast.engines import installed

    engine = next((e for e in ("onnxruntime", "openvino") if installed(e)), None)
    if engine is None:
        pytest.skip("no engine installed")
    slide = {"val_mode": "slide", "val_crop_size": (24, 24), "val_stride": (16, 16)}
    reference = _task(fast_predict=False, val_window_batch=1, **slide)
    task = _task(engine=engine, val_window_batch=3, **slide)
    task.load_state_dict(reference.state_dict())
    reference.eval()
    task.eval()
    image = torch.randn(2, 3, 41, 50)
    batch = {"image": image, "mask": torch.randint(0, 5, (2, 41, 50)), "path": ["a", "b"]}
    task.on_validation_start()
    assert task.eval_engine(task.model).engine == engine
    task.validation_step(batch, 0)
    task.on_validation_end()
    reference.on_validation_start()
    reference.validation_step(batch, 0)
    reference.on_validation_end()
    got, want = task.val_metrics.confmat, reference.val_metrics.confmat
    assert (got - want).abs().sum() <= 2e-3 * want.sum()  # argmax ties aside: the same pixels
    task.on_predict_start()
    assert task.predictor(task.model).engine == engine
    got = task.predict_step(batch, 0)
    task.on_predict_end()
    want = reference.predict_step(batch, 0)
    torch.testing.assert_close(got["confidence"], want["confidence"], rtol=1e-4, atol=1e-5)


def test_default_engines_and_engine_needing_the_fast_path():
    task = _task()
    assert (task.predictor.engine, task.eval_engine.engine) == ("auto", "torch")
    assert not task.eval_engine.fast  # validation runs the PyTorch model itself
    with pytest.raises(ValueError, match="engine='openvino' needs fast_predict=True"):
        _task(fast_predict=False, engine="openvino")
