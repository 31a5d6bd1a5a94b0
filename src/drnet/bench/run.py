"""``drnet bench``'s measurements: latency, throughput, GFLOP/s, share of the machine's practical
peak (a 1x1 conv and an sgemm) and peak memory, for inference and a training step, optionally
against peers: torchvision's model, ONNX Runtime and OpenVINO on the same weights.

Everything is measured in one process, candidates interleaved (:mod:`drnet.bench.timing`), and
returned as one JSON-able dict (``SCHEMA``) that the CLI prints as tables or as JSON.
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from drnet.bench.engine_peers import PEERS, engine_peer
from drnet.bench.environment import environment, load_average
from drnet.bench.flops import CeilingConv, CeilingMatmul, count_flops
from drnet.bench.memory import check_fits, peak_memory
from drnet.bench.timing import Timing, time_interleaved
from drnet.bench.torchvision_twin import NotComparableError, torchvision_twin
from drnet.bench.train_step import make_train_step, random_target
from drnet.errors import DrnetValueError
from drnet.fast.checkpointing import prepare_for_training
from drnet.fast.compare import relative_error
from drnet.fast.optimize import optimize_for_inference, parse_dtype

SCHEMA = "drnet.bench/1"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class BenchConfig:
    """What to benchmark; the defaults are drnet's default inference path."""

    model: str
    input_size: tuple[int, int] = (512, 512)
    batch: int = 1
    output_stride: int | None = None
    num_classes: int | None = None
    precision: str = "fp32"  # fp32 | bf16 | fp16 | int8 (inference, in an engine)
    engine: str = "auto"  # drnet's inference engine (optimize_for_inference)
    channels_last: bool = True
    fold_bn: bool = True
    compile: bool = False
    space_to_batch: bool = False
    checkpointing: str | None = None  # None | "all" | "dilated" (training)
    modes: tuple[str, ...] = ("inference",)  # "inference", "train"
    vs: tuple[str, ...] = ()  # peers: "torchvision", "onnxruntime", "openvino"
    warmup: int = 1
    repeats: int = 5
    device: str = "cpu"
    seed: int = 0
    memory: bool = True
    malloc_keep: bool = False

    calibration_images: int = 8  # int8: random images set the ranges (speed, not accuracy)

    def __post_init__(self) -> None:
        if self.precision != "int8":
            parse_dtype(self.precision)
        elif "train" in self.modes:
            raise DrnetValueError("precision int8 is for inference; train in fp32, bf16 or fp16")
        if unknown := set(self.modes) - {"inference", "train"}:
            raise DrnetValueError(f"modes must be 'inference' and/or 'train', "
                                  f"got {sorted(unknown)}")
        vs = self.vs
        vs = tuple(v for v in vs.split(",") if v) if isinstance(vs, str) else tuple(vs or ())
        object.__setattr__(self, "vs", vs)
        if unknown := [v for v in vs if v not in PEERS]:
            raise DrnetValueError(f"vs must name peers among {PEERS}, got {', '.join(unknown)}")
        if self.checkpointing not in (None, "all", "dilated"):
            raise DrnetValueError("checkpointing must be 'all' or 'dilated', got "
                                  f"{self.checkpointing!r}")
        if self.batch < 1 or min(self.input_size) < 1:
            raise DrnetValueError(f"batch and input size must be positive, got {self.batch}, "
                                  f"{self.input_size}")


def run_bench(config: BenchConfig, progress: Progress | None = None) -> dict[str, Any]:
    """Measure ``config``; see the README (Speed) for the JSON schema."""
    from drnet.models import create_model

    say = progress or (lambda _: None)
    torch.manual_seed(config.seed)
    device = torch.device(config.device)
    allocator = "default"
    if config.malloc_keep:
        from drnet.bench.allocator import keep_freed_memory

        allocator = "glibc-keep" if keep_freed_memory() else "default (mallopt unavailable)"
    kwargs: dict[str, Any] = {}
    if config.output_stride is not None:
        kwargs["output_stride"] = config.output_stride
    if config.num_classes is not None:
        kwargs["num_classes"] = config.num_classes
    say(f"building {config.model} {kwargs or ''}")
    model = create_model(config.model, **kwargs).eval()
    check_fits(model, config.input_size, config.batch, device, train="train" in config.modes)
    model = model.to(device)
    x = torch.randn(config.batch, 3, *config.input_size, device=device)
    twin, twin_note = None, None
    if "torchvision" in config.vs:
        try:
            twin = torchvision_twin(config.model, model).to(device)
        except NotComparableError as err:
            twin_note = str(err)
            say(f"torchvision: not comparable: {err}")
    report: dict[str, Any] = {
        "schema": SCHEMA, "model": config.model,
        "output_stride": getattr(model, "output_stride", None),
        "input": [config.batch, 3, *config.input_size], "environment": environment(device),
        "settings": {**asdict(config), "allocator": allocator},
        "torchvision": {"compared": twin is not None, "note": twin_note},
        "peers": list(config.vs),
    }
    if "inference" in config.modes:
        report["inference"] = _inference(config, model, twin, x, device, say)
    if "train" in config.modes:
        report["train"] = _train(config, model, twin, x, device, say)
    report["load_average_end"] = load_average()
    return report


def _inference(config: BenchConfig, model: nn.Module, twin: nn.Module | None, x: torch.Tensor,
               device: torch.device, say: Progress) -> dict[str, Any]:
    int8 = config.precision == "int8"
    dtype = None if int8 else parse_dtype(config.precision)
    calibration = [torch.randn_like(x[:1]) for _ in range(config.calibration_images)] \
        if int8 else None
    say(f"drnet: building (engine {config.engine})")
    fast = optimize_for_inference(model, fold_bn=config.fold_bn,
                                  channels_last=config.channels_last, dtype=dtype,
                                  compile=config.compile, space_to_batch=config.space_to_batch,
                                  engine=config.engine, int8_calibration=calibration)
    labels = {"drnet": _label(config, inference=True, engine=fast.engine),
              "torchvision": "torchvision, eager fp32 NCHW, same weights"}
    torch_runs = {"drnet"} if fast.engine == "torch" else set()
    with torch.inference_mode():
        reference = model(x)
        say("drnet: first call" + (" (compiling)" if config.compile else ""))
        first = Timing(tuple(time_interleaved({"drnet": lambda: fast(x)}, warmup=0, repeats=1,
                                              device=device)["drnet"].samples))
        checks = {"drnet": relative_error(fast(x), reference)}
        chosen = getattr(getattr(fast, "runner", None), "chosen", None)
        if fast.engine == "auto" and chosen:  # measured on the first call: say which it kept
            labels["drnet"] = labels["drnet"].replace("engine auto (auto)",
                                                      f"engine {chosen} (auto: measured fastest)")
        candidates: dict[str, Callable[[], Any]] = {"drnet": lambda: fast(x)}
        if twin is not None:
            checks["torchvision"] = relative_error(twin(x), reference)
            candidates["torchvision"] = _in_inference_mode(twin, x)
            torch_runs.add("torchvision")
        if "drnet-torch" in config.vs:
            own = optimize_for_inference(model, fold_bn=config.fold_bn,
                                         channels_last=config.channels_last, engine="torch")
            candidates["drnet-torch"] = (lambda f: lambda: f(x))(own)
            labels["drnet-torch"] = "drnet, engine torch, fp32, channels_last, BN folded, eager"
            checks["drnet-torch"] = relative_error(own(x), reference)
            torch_runs.add("drnet-torch")
        if "eager" in config.vs:
            candidates["eager"] = _in_inference_mode(model, x)
            labels["eager"] = "drnet's model as built, eager fp32 NCHW, batch norm unfolded"
            checks["eager"] = 0.0
            torch_runs.add("eager")
        for peer in (p for p in config.vs if p in ("onnxruntime", "openvino")):
            say(f"{peer}: exporting and compiling")
            run, labels[peer] = engine_peer(peer, model)
            array = x.detach().cpu().contiguous().numpy()
            checks[peer] = relative_error(torch.from_numpy(run(array)), reference)
            candidates[peer] = (lambda f, a: lambda: f(a))(run, array)
        flops = count_flops(lambda: model(x))
    memory_ok = not (config.compile and device.type != "cuda")
    report = _measure(config, candidates, labels, flops, dtype, device, say,
                      memory_ok=memory_ok, mode="inference", torch_runs=torch_runs)
    report["first_call_s"] = first.median
    report["max_rel_diff_vs_eager_fp32"] = checks
    return report


def _in_inference_mode(model: nn.Module, x: torch.Tensor) -> Callable[[], Any]:
    def call() -> Any:
        with torch.inference_mode():
            return model(x)
    return call


def _train(config: BenchConfig, model: nn.Module, twin: nn.Module | None, x: torch.Tensor,
           device: torch.device, say: Progress) -> dict[str, Any]:
    dtype = parse_dtype(config.precision)
    with torch.no_grad():
        output_shape = model(x[:1]).shape
    num_classes = output_shape[1]
    target = random_target(torch.Size((x.shape[0], *output_shape[1:])), num_classes, device)

    def prepared(m: nn.Module, checkpointing: str | None, fast: bool) -> Callable[[], float]:
        m = prepare_for_training(copy.deepcopy(m).train(), checkpointing=checkpointing,
                                 channels_last=fast and config.channels_last)
        inp = x.contiguous(memory_format=torch.channels_last) if fast and config.channels_last \
            else x
        if fast and config.compile:
            m = torch.compile(m)
        return make_train_step(m, inp, target, autocast_dtype=dtype if fast else None)

    candidates = {"drnet": prepared(model, config.checkpointing, True)}
    labels = {"drnet": _label(config, inference=False)}
    if config.checkpointing:
        candidates["drnet-no-checkpointing"] = prepared(model, None, True)
        labels["drnet-no-checkpointing"] = "the same without checkpointing"
    if twin is not None:
        candidates["torchvision"] = prepared(twin, None, False)
        labels["torchvision"] = "torchvision, eager fp32 NCHW, same weights"
    plain = prepared(model, None, False)
    flops = count_flops(plain)
    return _measure(config, candidates, labels, flops, dtype, device, say,
                    memory_ok=not (config.compile and device.type != "cuda"), mode="train",
                    torch_runs=set(candidates))


def _measure(config: BenchConfig, candidates: dict[str, Callable[[], Any]],
             labels: dict[str, str], flops: int, dtype: torch.dtype | None,
             device: torch.device, say: Progress, *, memory_ok: bool,
             mode: str, torch_runs: set[str]) -> dict[str, Any]:
    # Each run's share is of the ceiling in its own precision (the peers always run fp32; int8
    # is measured against fp32's, which it is meant to pass). Peak memory counts torch tensors:
    # an engine's own buffers are invisible to it, so engine runs have none.
    ceilings: dict[str, Any] = {"ceiling": CeilingConv(device, dtype or torch.float32)}
    if dtype is not None:
        ceilings["ceiling_fp32"] = CeilingConv(device, torch.float32)
    ceilings["sgemm"] = CeilingMatmul(device)
    timed = {**candidates, **ceilings}
    say(f"{mode}: timing {', '.join(timed)} ({config.warmup} warm-up, {config.repeats} rounds)")
    times = time_interleaved(timed, warmup=config.warmup, repeats=config.repeats, device=device,
                             progress=lambda m: say(f"{mode}: {m}"))
    rates = {k: c.flops / times[k].median / 1e9 for k, c in ceilings.items()}
    results = []
    for name, fn in candidates.items():
        t = times[name]
        rate = flops / t.median / 1e9
        ceiling_rate = rates["ceiling" if name.startswith("drnet") else "ceiling_fp32"
                             if dtype is not None else "ceiling"]
        peak = None
        if config.memory and memory_ok and name in torch_runs:
            say(f"{mode}: peak memory of {name}")
            with torch.inference_mode(mode == "inference"):
                peak = peak_memory(fn, device) / 2**20
        results.append({"name": name, "label": labels[name], **t.as_dict(),
                        "images_per_s": config.batch / t.median, "gflops_per_s": rate,
                        "share_of_ceiling": rate / ceiling_rate,
                        "share_of_sgemm": rate / rates["sgemm"], "peak_mem_mb": peak})
    by_name = {r["name"]: r for r in results}
    ratios = {f"{name}/drnet": by_name[name]["median_s"] / by_name["drnet"]["median_s"]
              for name in by_name if name != "drnet"}
    # The same ratio per round (both ran within seconds of each other), then the median: less
    # sensitive to load that changes between rounds on a shared machine.
    paired = {f"{name}/drnet": statistics.median(
        a / b for a, b in zip(times[name].samples, times["drnet"].samples, strict=True))
        for name in by_name if name != "drnet"}
    memory = {f"drnet/{name}": by_name["drnet"]["peak_mem_mb"] / by_name[name]["peak_mem_mb"]
              for name in by_name if name != "drnet"
              if by_name[name]["peak_mem_mb"] and by_name["drnet"]["peak_mem_mb"] is not None}
    report = {"flops": flops, "results": results}
    for key in ceilings:
        precision = "fp32" if key != "ceiling" or dtype is None else config.precision
        label = ("sgemm 2048x2048 @ 2048x2048, fp32" if key == "sgemm" else
                 f"1x1 conv 1024->1024 on 64x64, channels_last, {precision}")
        report[key] = {"label": label, "gflops_per_s": rates[key], **times[key].as_dict()}
    return {**report, "time_ratios": ratios, "time_ratios_paired": paired,
            "memory_ratios": memory}


def _label(config: BenchConfig, *, inference: bool, engine: str = "torch") -> str:
    parts = ["drnet", config.precision]
    if engine != "torch":
        parts[0] = f"drnet, engine {engine}" + (" (auto)" if config.engine == "auto" else "")
        parts += ["BN folded"] if config.fold_bn else []
        if config.precision == "int8":
            parts.append(f"QDQ per-channel, calibrated on {config.calibration_images} random "
                         f"images (speed only)")
        return ", ".join(parts)
    parts.append("channels_last" if config.channels_last else "NCHW")
    if inference:
        parts += ["BN folded"] if config.fold_bn else []
        parts += ["space-to-batch"] if config.space_to_batch else []
    else:
        parts.append(f"checkpointing={config.checkpointing}" if config.checkpointing
                     else "no checkpointing")
    parts += ["compiled"] if config.compile else ["eager"]
    return ", ".join(parts)
