"""What every drnet DataModule shares (imports Lightning): datasets per role, seeded loaders,
the mean/std contract and predict on a file, folder or list."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from drnet.data.bad_samples import SkipsBadSamples, check_fraction, collate_dicts
from drnet.data.predict import PredictImages
from drnet.data.preprocessing import StatisticsSource, reconcile
from drnet.data.sampler import EpochSampler, ResumableLoader
from drnet.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from drnet.errors import DrnetValueError
from drnet.models.preprocessing import Preprocessing

Stats = tuple[float, float, float]
ROLES = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("predict",),
         None: ("train", "val", "test")}


def _floats(values: Sequence[float]) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def _given_statistics(mean: Sequence[float] | None, std: Sequence[float] | None
                      ) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    """``mean``/``std`` arguments as floats (``None`` where not given), checked: 3 numbers each,
    std > 0."""
    given_mean = None if mean is None else _floats(mean)
    given_std = None if std is None else _floats(std)
    if ((given_mean is not None and len(given_mean) != 3)
            or (given_std is not None and (len(given_std) != 3 or min(given_std) <= 0))):
        raise DrnetValueError(f"mean and std must be 3 numbers each (std > 0), got {given_mean}, "
                              f"{given_std}")
    return given_mean, given_std


class DataModuleBase(L.LightningDataModule):
    """Base class: subclasses implement :meth:`read_split` and :meth:`transforms_for`; the roles
    ``train``, ``val`` and ``test`` read the layout's split named in ``split_names``.
    ``mean``/``std`` (in [0, 1], for the model's input normalisation and for showing images)
    are the arguments; left unset, they follow the model's weights unless the data set has
    statistics of its own (``own_statistics``), see :mod:`drnet.data.preprocessing`.
    ``__init__`` stores its own arguments and reads nothing a subclass sets, so a subclass
    calls ``super().__init__`` first and then sets its facts (``default_mean``/``default_std``,
    ``split_names``, the class table); they are read when used.
    ``seed`` fixes the shuffling order and the workers' seeds; with ``num_workers=0``
    augmentation draws from torch's global generator (``seed_everything``).
    ``skip_bad_samples`` skips unusable files (each named once in a warning) instead of
    stopping; more than ``max_bad_fraction`` of a split's files bad stops the run with an error
    naming the data set (:mod:`drnet.data.bad_samples`).

    Args:
        batch_size: Training images per batch and process.
        val_batch_size: Validation and test images per batch and process.
        num_workers: DataLoader worker processes per process (0: load in the main process).
        mean: Per-channel (RGB) input mean in [0, 1]; null: the data set's own where it has
            them (DRN info.json, CIFAR-10, built-in sets), else the weights'.
        std: Per-channel (RGB) input standard deviation in [0, 1]; null: as mean.
        seed: Seed of the shuffling order and the workers' random augmentation.
        predict_path: What predict reads: an image, a folder of images or a .txt list of paths.
        skip_bad_samples: Skip unreadable or inconsistent files (each named once in a warning)
            instead of stopping.
        max_bad_fraction: Share of a split's files (0 to 1) that may be bad before the run
            stops with an error.
    """

    default_mean: Stats = IMAGENET_MEAN
    default_std: Stats = IMAGENET_STD
    own_statistics: bool = False  # default_mean/std are the data set's, not ImageNet's
    generic_class_table: bool = False  # class_names/palette are placeholders (class_<i>)
    collate_fn: Callable[[list[Any]], Any] | None = staticmethod(collate_dicts)
    # role -> the layout's split; subclasses with split arguments replace it per instance
    split_names: Mapping[str, Any] = MappingProxyType(
        {"train": "train", "val": "val", "test": "val"})

    def __init__(self, *, batch_size: int, val_batch_size: int, num_workers: int,
                 mean: Stats | None, std: Stats | None, seed: int,
                 predict_path: str | None, skip_bad_samples: bool = False,
                 max_bad_fraction: float = 0.05) -> None:
        super().__init__()
        for name, value in (("batch_size", batch_size), ("val_batch_size", val_batch_size)):
            if value < 1:
                raise DrnetValueError(f"{name} must be >= 1, got {value}")
        if num_workers < 0:
            raise DrnetValueError(f"num_workers must be >= 0, got {num_workers}")
        self.batch_size, self.val_batch_size, self.num_workers = (
            batch_size, val_batch_size, num_workers)
        self.seed, self.predict_path = seed, predict_path
        self.skip_bad_samples = skip_bad_samples
        self.max_bad_fraction = check_fraction(max_bad_fraction)
        self._mean, self._std = _given_statistics(mean, std)
        self._statistics_given = mean is not None or std is not None
        self.datasets: dict[str, Dataset] = {}
        self._resume: dict[str, int] = {}  # a checkpoint's position, until used
        self._train_loader: ResumableLoader | None = None
        # every __init__ argument of the subclass chain, for checkpoints and loggers
        self.save_hyperparameters()

    @property
    def mean(self) -> tuple[float, ...]:
        """The input mean: given, adopted from the weights, or the data set's ``default_mean``
        (read here, not in ``__init__``, so a subclass may set it after ``super().__init__``)."""
        return self._mean if self._mean is not None else _floats(self.default_mean)

    @mean.setter
    def mean(self, value: Sequence[float]) -> None:
        self._mean = _floats(value)

    @property
    def std(self) -> tuple[float, ...]:
        """The input standard deviation, chosen as :attr:`mean`."""
        return self._std if self._std is not None else _floats(self.default_std)

    @std.setter
    def std(self, value: Sequence[float]) -> None:
        self._std = _floats(value)

    @property
    def statistics_source(self) -> StatisticsSource:
        """Where ``mean``/``std`` come from, for :func:`~drnet.data.preprocessing.reconcile`
        (statistics adopted from the weights stay ``"default"``)."""
        if self._statistics_given:
            return "argument"
        return "data set" if self.own_statistics else "default"

    def make_dataset(self, role: str) -> Dataset:
        """The dataset for ``role`` (``"train"``, ``"val"`` or ``"test"``): the one place that
        maps a role to the layout's split and to its transforms."""
        return self.read_split(self.split_names[role], self.transforms_for(role))

    def read_split(self, split: Any, transforms: Callable[..., Any]) -> Dataset:
        """The layout's ``split`` with ``transforms`` applied to each sample."""
        raise NotImplementedError

    def transforms_for(self, role: str) -> Callable[..., Any]:
        """The transforms of ``role``: augmentation for ``"train"`` only."""
        raise NotImplementedError

    def predict_source(self) -> str:
        """What ``predict_dataloader`` reads: ``predict_path`` unless a layout has a default."""
        if self.predict_path is None:
            raise DrnetValueError(f"{type(self).__name__}: set predict_path (an image, a folder of "
                                  "images or a .txt list) to predict")
        return self.predict_path

    def adopt_preprocessing(self, weights: Preprocessing | None, *, training: bool
                            ) -> str | None:
        """Agree with the weights' normalisation and class table before any data is read (see
        :mod:`drnet.data.preprocessing`); data sets built with other statistics are rebuilt.
        Returns a line saying what changed, or ``None``."""
        before = (self.mean, self.std)
        said = reconcile(self, weights, training=training)
        if (self.mean, self.std) != before:
            self.datasets.clear()
            self.hparams.update(mean=list(self.mean), std=list(self.std))
        if said:
            self.hparams["class_names"] = list(self.class_names)
        return said

    def setup(self, stage: str | None = None) -> None:
        module = self.trainer.lightning_module if self.trainer is not None else None
        if module is not None and hasattr(module, "weights_preprocessing"):
            said = self.adopt_preprocessing(module.weights_preprocessing,
                                            training=stage == "fit")
            if said and self.trainer.is_global_zero:
                print(said, flush=True)
        for role in ROLES.get(stage, ()):
            if role not in self.datasets:
                dataset = (PredictImages(self.predict_source(), self.mean, self.std)
                           if role == "predict" else self.make_dataset(role))
                if isinstance(dataset, SkipsBadSamples):
                    dataset.skip_bad = self.skip_bad_samples
                    dataset.max_bad_fraction = self.max_bad_fraction
                self.datasets[role] = dataset

    @property
    def bad_samples(self) -> int:
        """Distinct files skipped so far (``skip_bad_samples=True``), over every split."""
        return sum(d.bad_samples for d in self.datasets.values()
                   if isinstance(d, SkipsBadSamples))

    def bad_sample_flags(self) -> dict[str, torch.Tensor]:
        """Per split read so far: one byte per sample, 1 where its file was found bad."""
        return {role: d.bad_flags for role, d in self.datasets.items()
                if isinstance(d, SkipsBadSamples)}

    def _loader(self, role: str, batch_size: int, sampler: Sampler[int] | None = None,
                loader_type: type[DataLoader] = DataLoader, **extra: Any) -> DataLoader:
        if role not in self.datasets:
            self.setup({"train": "fit", "val": "validate"}.get(role, role))
        return loader_type(self.datasets[role], batch_size=batch_size, sampler=sampler,
                           num_workers=self.num_workers, collate_fn=self.collate_fn,
                           generator=torch.Generator().manual_seed(self.seed),
                           persistent_workers=self.num_workers > 0, **extra)

    def train_dataloader(self) -> ResumableLoader:
        """This process's share of the (seed, epoch) order, from the checkpoint's position on
        when resuming. Each rank shards the data itself (:class:`EpochSampler`), so Lightning
        does not wrap the sampler; an epoch is padded to a multiple of the number of processes
        (a few samples are seen twice), as with ``DistributedSampler``."""
        if "train" not in self.datasets:
            self.setup("fit")
        shard = self.trainer.distributed_sampler_kwargs if self.trainer is not None else None
        sampler = EpochSampler(len(self.datasets["train"]),  # type: ignore[arg-type]
                               seed=self.seed, **(shard or {}))
        loader = self._loader("train", self.batch_size, sampler, ResumableLoader,
                              progress=self._progress)
        assert isinstance(loader, ResumableLoader)
        loader.load_state_dict(self._resume)
        self._resume, self._train_loader = {}, loader
        return loader

    def _progress(self) -> tuple[int, int]:
        """(epoch, batches of it trained on by each rank) from Lightning's counters; an epoch
        whose batches are all done counts as the start of the next."""
        trainer = self.trainer
        if trainer is None:
            return 0, 0
        epochs = trainer.fit_loop.epoch_progress.current
        batches = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        if epochs.started > epochs.processed and batches < trainer.num_training_batches:
            return epochs.processed, batches  # inside epoch `processed`
        return epochs.started, 0  # between epochs (the hooks of an epoch's end run here)

    def state_dict(self) -> dict[str, int]:
        """Where training stands, saved in every checkpoint: the epoch (as Lightning numbers it
        for ``set_epoch``), the samples of it consumed by all processes together, their number
        and the batch size. The loader saves the same (Lightning's loader protocol), but
        Lightning restores a loader's state only when it builds the loader after restoring its
        loops, which it does not when ``configure_optimizers`` asks for
        ``estimated_stepping_batches`` with a finite ``max_epochs`` (drnet's tasks do); this
        copy is restored before any loader is built (restoring both is harmless)."""
        return self._train_loader.state_dict() if self._train_loader is not None else {}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        """Restored before the training loader is built (and before Lightning restores its own
        loops), so the resumed run continues the interrupted epoch where it stopped."""
        self._resume = dict(state_dict)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.val_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.val_batch_size)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict", 1)  # images keep their own sizes
