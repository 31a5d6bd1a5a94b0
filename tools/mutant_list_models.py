"""Mutants of the model code: the dilation and receptive-field invariants (output stride, DRN
stages, blocks, padding, receptive-field rules), BN folding, checkpoint loading, detectors and
export."""

from __future__ import annotations

from mutant_record import Mutant

OUTPUT_STRIDE = "src/drnet/models/output_stride.py"
DRN = "src/drnet/models/drn.py"
BLOCKS = "src/drnet/layers/blocks.py"
PADDING = "src/drnet/layers/padding.py"
RESNET = "src/drnet/models/resnet.py"
FOLD = "src/drnet/fast/fold.py"
AXIS = "src/drnet/analysis/axis.py"
WEIGHTS = "src/drnet/models/weights.py"
CHECKPOINT_FILES = "src/drnet/models/checkpoint_files.py"
DETECTORS = "src/drnet/models/detection/detectors.py"
EXPORT = "src/drnet/fast/export.py"

MODEL_MUTANTS: tuple[Mutant, ...] = (
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
)
