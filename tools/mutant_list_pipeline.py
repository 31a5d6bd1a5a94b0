"""Mutants of the path from data to results: segmentation metrics, sliding-window and multi-scale
inference, transforms and preprocessing, prediction writers, classification metrics, bench."""

from __future__ import annotations

from mutant_record import Mutant

METRICS = "src/drnet/tasks/metrics.py"
INFERENCE = "src/drnet/inference/segmentation.py"
TRANSFORMS = "src/drnet/data/transforms.py"
PREPROCESSING = "src/drnet/models/preprocessing.py"
WRITERS = "src/drnet/tasks/writers.py"
VOC = "src/drnet/data/segmentation/voc.py"
DETECTION_WRITER = "src/drnet/tasks/detection_writer.py"
CLASSIFICATION = "src/drnet/tasks/classification.py"
BENCH = "src/drnet/bench/run.py"
FLOPS = "src/drnet/bench/flops.py"

PIPELINE_MUTANTS: tuple[Mutant, ...] = (
    # --- metrics -------------------------------------------------------------------------
    Mutant("metrics-union", METRICS,
           "union = in_target + predicted - tp",
           "union = in_target + predicted",
           ("tests/test_metrics.py",),
           "IoU = TP / (TP + FP + FN); counting TP twice in the union is Dice-like"),
    Mutant("metrics-absent-classes", METRICS,
           '"mIoU": iou.nanmean(),',
           '"mIoU": iou.nan_to_num().mean(),',
           ("tests/test_metrics.py",),
           "classes absent from target and prediction are left out of the mean (benchmarks)"),
    Mutant("metrics-accuracy-is-recall", METRICS,
           "accuracy = torch.where(in_target > 0, tp / in_target.clamp(min=1), nan)",
           "accuracy = torch.where(in_target > 0, tp / predicted.clamp(min=1), nan)",
           ("tests/test_metrics.py",),
           "class accuracy is TP over the class's target pixels, not its predicted ones"),
    Mutant("metrics-ignore", METRICS,
           "super().__init__(num_classes=num_classes, ignore_index=ignore_index,",
           "super().__init__(num_classes=num_classes, ignore_index=None,",
           ("tests/test_metrics.py",),
           "ignored (255) pixels must be dropped with their predictions"),
    # --- inference tiling ----------------------------------------------------------------
    Mutant("slide-step-is-crop", INFERENCE,
           "starts = list(range(0, length - crop, stride))",
           "starts = list(range(0, length - crop, crop))",
           ("tests/test_inference.py",),
           "windows would not overlap as configured (the crop size used as the step)"),
    Mutant("slide-row-stride", INFERENCE,
           "windows = [(top, left) for top in _starts(ph, crop_h, stride[0])",
           "windows = [(top, left) for top in _starts(ph, crop_h, stride[1])",
           ("tests/test_inference.py",),
           "rows stepped by the column stride"),
    Mutant("slide-batch-rows", INFERENCE,
           "+= probs[i * n:(i + 1) * n]",
           "+= probs[i:i + n]",
           ("tests/test_inference.py",),
           "batched windows: each window's images are n consecutive rows of the pass"),
    Mutant("slide-no-last-window", INFERENCE,
           "return [*starts, length - crop]",
           "return starts",
           ("tests/test_inference.py",),
           "the window flush with the far border is missing: its pixels get no prediction"),
    Mutant("slide-pad-order", INFERENCE,
           "padded = F.pad(image, (0, pad_w, 0, pad_h))",
           "padded = F.pad(image, (0, pad_h, 0, pad_w))",
           ("tests/test_inference.py",),
           "F.pad takes (left, right, top, bottom): height and width padding swapped"),
    Mutant("slide-fits-boundary", INFERENCE,
           "if length <= crop:",
           "if length < crop:",
           ("tests/test_inference.py",),
           "an image exactly the window's size",
           equivalent="at length == crop the regular steps range(0, 0, stride) are empty and "
                      "the flush window starts at 0: the same single window [0]"),
    Mutant("multiscale-count", INFERENCE,
           "return total / runs",
           "return total / len(config.scales)",
           ("tests/test_inference.py",),
           "with flip, twice as many runs as scales are summed"),
    # --- transforms ----------------------------------------------------------------------
    Mutant("mask-nearest", TRANSFORMS,
           'mode="nearest-exact")',
           'mode="nearest")',
           ("tests/test_data_transforms.py",),
           "plain nearest samples floor(i / scale): labels shift against the image"),
    Mutant("mask-fill-zero", TRANSFORMS,
           "return {tv_tensors.Image: 0, tv_tensors.Mask: ignore_index}",
           "return {tv_tensors.Image: 0, tv_tensors.Mask: 0}",
           ("tests/test_data_transforms.py",),
           "padding would be trained as class 0 instead of ignored"),
    Mutant("scale-size-floor", TRANSFORMS,
           'return {"size": [max(1, round(height * scale)), max(1, round(width * scale))]}',
           'return {"size": [max(1, int(height * scale)), max(1, int(width * scale))]}',
           ("tests/test_data_transforms.py",),
           "sizes rounded, not truncated"),
    Mutant("unit-float-multiplies", PREPROCESSING,
           "return tv_tensors.wrap(inpt.to(torch.float32).div(255), like=inpt)",
           "return tv_tensors.wrap(inpt.to(torch.float32).mul(1 / 255), like=inpt)",
           ("tests/test_preprocessing.py", "-k", "bit_identical"),
           "ToTensor divides by 255; multiplying differs in the last bit and flips near-ties "
           "of official checkpoints"),
    # --- prediction writers --------------------------------------------------------------
    Mutant("writer-zero-labels", WRITERS,
           'self._save(Image.fromarray(ids, mode="L"), Path(f"{base}_labels.png"))',
           'self._save(Image.fromarray(ids * 0, mode="L"), Path(f"{base}_labels.png"))',
           ("tests/test_tasks.py", "-k", "writer or palette"),
           "label PNGs that hold nothing"),
    Mutant("writer-renormalises", WRITERS,
           'image = (batch["image"][i].float().cpu() * std + mean).clamp(0, 1)',
           'image = ((batch["image"][i].float().cpu() - mean) / std).clamp(0, 1)',
           ("tests/test_tasks.py", "-k", "writer or palette"),
           "the overlay must show the input image: undo the normalisation, not apply it again"),
    Mutant("writer-alpha-swapped", WRITERS,
           "blend = (1 - self.alpha) * rgb + self.alpha * colourise(ids, palette)",
           "blend = self.alpha * rgb + (1 - self.alpha) * colourise(ids, palette)",
           ("tests/test_tasks.py", "-k", "writer or palette"),
           "alpha is the palette's weight"),
    Mutant("palette-bits", VOC,
           "rgb[:, channel] |= ((index >> (3 * shift + channel)) & 1) << (7 - shift)",
           "rgb[:, channel] |= ((index >> (3 * shift + 2 - channel)) & 1) << (7 - shift)",
           ("tests/test_tasks.py", "-k", "palette"),
           "the VOC colour map interleaves r, g, b bits"),
    Mutant("detection-rows-without-names", DETECTION_WRITER,
           "for label, name, score, box in zip(labels, _names(labels, class_names), scores,",
           "for label, name, score, box in zip(labels, _names(labels, None), scores,",
           ("tests/test_detection_cli.py",),
           "detections.csv names each box's class"),
    # --- classification metrics ------------------------------------------------------------
    Mutant("topk-at-num-classes", CLASSIFICATION,
           "for k in TOP_K if k == 1 or k < num_classes}",
           "for k in TOP_K if k == 1 or k <= num_classes}",
           ("tests/test_tasks.py", "-k", "top_k or classification"),
           "top-k with k >= the number of classes is always 1.0"),
    # --- bench ---------------------------------------------------------------------------
    Mutant("bench-compares-itself", BENCH,
           'checks = {"drnet": relative_error(fast(x), reference)}',
           'checks = {"drnet": relative_error(reference, reference)}',
           ("tests/test_bench.py", "-k", "measured or schema"),
           "the reported difference to eager fp32 must be measured on the fast path"),
    Mutant("bench-counts-macs", FLOPS,
           "return int(counter.get_total_flops())",
           "return int(counter.get_total_flops()) // 2",
           ("tests/test_bench.py", "-k", "measured or schema"),
           "FLOPs count a multiply-add as 2 (GFLOP/s and the ceiling share depend on it)"),
)
