"""The mutants ``tools/mutants.py`` applies: small, realistic one-line bugs in critical modules.

Each row names the file, a snippet that must occur exactly once in it, its replacement, the
pytest arguments that should catch it (files, node ids or ``-k`` selections: only the relevant
tests, so a run stays short) and why the bug would matter to a user. ``equivalent`` holds the
reason when the mutant cannot change behaviour; such a mutant is expected to survive.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    """One small change to one file, and the tests that must notice it."""

    id: str
    file: str
    original: str
    replacement: str
    tests: tuple[str, ...]
    why: str
    equivalent: str | None = None  # why it cannot change behaviour (expected to survive)


OUTPUT_STRIDE = "src/drnet/models/output_stride.py"
DRN = "src/drnet/models/drn.py"
BLOCKS = "src/drnet/layers/blocks.py"
PADDING = "src/drnet/layers/padding.py"
RESNET = "src/drnet/models/resnet.py"
FOLD = "src/drnet/fast/fold.py"
METRICS = "src/drnet/tasks/metrics.py"
AXIS = "src/drnet/analysis/axis.py"
INFERENCE = "src/drnet/inference/segmentation.py"
TRANSFORMS = "src/drnet/data/transforms.py"
PREPROCESSING = "src/drnet/models/preprocessing.py"
WRITERS = "src/drnet/tasks/writers.py"
VOC = "src/drnet/data/segmentation/voc.py"
DETECTION_WRITER = "src/drnet/tasks/detection_writer.py"
WEIGHTS = "src/drnet/models/weights.py"
CHECKPOINT_FILES = "src/drnet/models/checkpoint_files.py"
DETECTORS = "src/drnet/models/detection/detectors.py"
EXPORT = "src/drnet/fast/export.py"
CLASSIFICATION = "src/drnet/tasks/classification.py"
BENCH = "src/drnet/bench/run.py"
FLOPS = "src/drnet/bench/flops.py"

MUTANTS: tuple[Mutant, ...] = (
    # --- output-stride planner -----------------------------------------------------------
    Mutant("os-first-dilation", OUTPUT_STRIDE,
           "plans.append(StagePlan(stride, dilation, previous, unit_rates if last else ()))",
           "plans.append(StagePlan(stride, dilation, dilation, unit_rates if last else ()))",
           ("tests/test_atrous.py",),
           "the formerly strided conv must keep the previous dilation, or OS8/16 stop computing "
           "the OS32 function (design.md §3)"),
    Mutant("os-boundary", OUTPUT_STRIDE,
           "if reduction * nominal > output_stride:",
           "if reduction * nominal >= output_stride:",
           ("tests/test_atrous.py",),
           "off by one stage: the stride that reaches the output stride is dilated away"),
    Mutant("os-multigrid-rate", OUTPUT_STRIDE,
           "rate = self.dilation * self.unit_rates[index]",
           "rate = self.unit_rates[index]",
           ("tests/test_atrous.py",),
           "DeepLabv3's effective rate is stage dilation x unit rate (OS16 (1,2,4) -> 2,4,8)"),
    # --- DRN stages and blocks -----------------------------------------------------------
    Mutant("drn-degrid-residual", DRN,
           "stride, dilation, residual=i < 6, norm=norm)",
           "stride, dilation, residual=i < 7, norm=norm)",
           ("tests/test_drn.py", "-k", "degridding or official_checkpoint_loads_strictly"),
           "DRN-C stages 7-8 degrid without residuals; a shortcut brings the gridding back"),
    Mutant("drn-dilations", DRN,
           "DILATIONS = (1, 1, 1, 1, 2, 4, 2, 1)",
           "DILATIONS = (1, 1, 1, 1, 2, 4, 4, 1)",
           ("tests/test_drn.py", "-k", "dilations or degridding"),
           "the published degridding dilations are 2 then 1 after the rate-4 stage"),
    Mutant("drn-os-rates", DRN,
           "rates = tuple(max(1, d // factor) for d in DILATIONS)",
           "rates = DILATIONS",
           ("tests/test_drn.py", "-k", "output_strides"),
           "at output stride 16/32 a DRN's dilations must shrink with its resolution"),
    Mutant("block-conv2-dilation", BLOCKS,
           "self.conv2 = conv3x3(planes, planes, 1, dilation)",
           "self.conv2 = conv3x3(planes, planes, 1, first)",
           ("tests/test_atrous.py",),
           "a BasicBlock's second conv runs at the new dilation, its first at the previous one"),
    Mutant("block-residual-ignored", BLOCKS,
           "if self.residual:  # in place: no extra activation-sized buffer",
           "if True:  # in place: no extra activation-sized buffer",
           ("tests/test_layers.py", "tests/test_drn.py", "-k", "residual or degridding"),
           "the official code's defect: residual=False ignored, degridding stages keep a shortcut"),
    Mutant("padding-ignores-dilation", PADDING,
           "span = dilation * (kernel_size - 1)",
           "span = kernel_size - 1",
           ("tests/test_layers.py",),
           "dilated convs would shrink and shift their maps"),
    # --- BN folding ----------------------------------------------------------------------
    Mutant("fold-frozen-eps", FOLD,
           "norm.running_var, norm.eps, norm.weight, norm.bias)",
           "norm.running_var, 0.0, norm.weight, norm.bias)",
           ("tests/test_fast_fold.py",),
           "a fold without eps divides by sqrt(var), wrong wherever var is small"),
    Mutant("fold-frozen-beta", FOLD,
           "norm.running_var, norm.eps, norm.weight, norm.bias)",
           "norm.running_var, norm.eps, norm.weight, None)",
           ("tests/test_fast_fold.py",),
           "the BN shift (beta) dropped from the folded bias"),
    Mutant("fold-drops-bn", FOLD,
           "module.set_submodule(conv_name, _fused(conv, norm))",
           "module.set_submodule(conv_name, conv)",
           ("tests/test_task_fast_paths.py",),
           "the tasks' fast predict path would drop BN instead of folding it: invisible with "
           "fresh BNs (mean 0, var 1), so the test gives them random statistics"),
    Mutant("fold-shared-conv", FOLD,
           'and source.op == "call_module" and len(source.users) == 1',
           'and source.op == "call_module" and len(source.users) >= 1',
           ("tests/test_fast_fold.py",),
           "a conv whose output is also used elsewhere cannot absorb the BN"),
    Mutant("fold-training-check", FOLD,
           'return getattr(norm, "running_mean", None) is not None and not norm.training',
           'return getattr(norm, "running_mean", None) is not None',
           ("tests/test_fast_fold.py",),
           "training-mode BNs normalise with batch statistics and must not be folded",
           equivalent="fold_batchnorm puts the whole model in eval mode before it searches, so "
                      "no norm reaches this check in training mode"),
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
    # --- receptive-field rules -----------------------------------------------------------
    Mutant("rf-extent-ignores-dilation", AXIS,
           "as_number(self.hi + (dilation * (kernel - 1) - padding) * jump),",
           "as_number(self.hi + (kernel - 1 - padding) * jump),",
           ("tests/test_analysis_receptive_field.py",),
           "a dilated kernel spans d (k - 1) + 1 pixels (design.md §5)"),
    Mutant("rf-jump", AXIS,
           "as_number(jump * stride), support, self.exact)",
           "as_number(jump), support, self.exact)",
           ("tests/test_analysis_receptive_field.py",),
           "the effective stride multiplies along the chain"),
    Mutant("rf-support-jump", AXIS,
           "support = or_shifts(support, [t * dilation * jump for t in range(kernel)])",
           "support = or_shifts(support, [t * dilation for t in range(kernel)])",
           ("tests/test_analysis_gridding.py", "tests/test_analysis_receptive_field.py"),
           "sampled offsets after a stride are spaced by the jump: gridding holes depend on it"),
    Mutant("rf-union", AXIS,
           "lo = min(a.lo for a in axes)",
           "lo = max(a.lo for a in axes)",
           ("tests/test_analysis_receptive_field.py",),
           "a residual sum's field is the union of its branches'"),
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
           "interpolation=v2.InterpolationMode.NEAREST_EXACT)",
           "interpolation=v2.InterpolationMode.NEAREST)",
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
    # --- loading -------------------------------------------------------------------------
    Mutant("load-without-weights-only", CHECKPOINT_FILES,
           "return torch.load(path, map_location=map_location, weights_only=True)",
           "return torch.load(path, map_location=map_location)",
           ("tests/test_weights.py", "tests/test_reliability.py", "-k",
            "runs_code or malicious"),
           "on torch < 2.6 (allowed) a checkpoint would run code when loaded"),
    Mutant("load-adapt-unscaled", WEIGHTS,
           "return weight.repeat(1, repeats, 1, 1)[:, :in_chans] * (weight.shape[1] / in_chans)",
           "return weight.repeat(1, repeats, 1, 1)[:, :in_chans]",
           ("tests/test_weights.py",),
           "an RGB first conv adapted to more channels must keep the grey response"),
    Mutant("load-ignores-strict", WEIGHTS,
           "if unexpected or misshaped or (missing and strict):",
           "if unexpected or misshaped:",
           ("tests/test_weights.py",),
           "a strict load with missing keys must fail, not leave layers at initialisation"),
    Mutant("load-prefix-guard", WEIGHTS,
           "k.startswith(prefix) for k in model_keys):",
           "False for k in model_keys):",
           ("tests/test_weights.py",),
           "a prefix the model's own keys use (model. of a segmentation model) is not a wrapper"),
    # --- detection -----------------------------------------------------------------------
    Mutant("det-score-thresh-ignored", DETECTORS,
           'common["score_thresh"] = score_thresh',
           "pass",
           ("tests/test_detection_models.py", "-k", "torchvisions and not fasterrcnn"),
           "RetinaNet/FCOS would keep torchvision's threshold whatever the user sets"),
    Mutant("det-backbone-stem", RESNET,
           "self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)",
           "self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=0)",
           ("tests/test_detection_models.py", "-k", "torchvisions and not fasterrcnn"),
           "a backbone that computes something else under the same state-dict layout: "
           "RetinaNet/FCOS equivalence compared empty outputs and let it pass"),
    # --- export --------------------------------------------------------------------------
    Mutant("export-program-checks-eager", EXPORT,
           ".module()\n    return lambda x: loaded(x).detach()",  # the ExportedProgram's
           ".module()\n    return lambda x: model(x).detach()",
           ("tests/test_export.py",),
           "the ExportedProgram check would compare eager with eager"),
    Mutant("export-onnx-checks-eager", EXPORT,
           'return lambda x: torch.from_numpy(session.run(None, {"image": x.numpy()})[0])',
           "return lambda x: model(x).detach()",
           ("tests/test_export.py",),
           "the ONNX check would compare eager with eager"),
    Mutant("export-check-ignored", EXPORT,
           "    if not report.ok:",
           "    if False:",
           ("tests/test_export.py",),
           "a wrong export would be written and reported as fine"),
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
