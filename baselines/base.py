"""The Baseline interface that every model family implements, and its registry.

The model owns its networks, losses and optimizers; the training loop in
``genbench.bench.train`` is generic: it hands ``batches_per_step`` batches to
``train_step`` and counts steps, images and wall time against the budget.
"""

from __future__ import annotations

import abc
import enum
import importlib
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Sequence

import torch

from genbench.bench.registry import Registry
from genbench.bench.spec import DataInfo, SpecError


class TaskKind(str, enum.Enum):
    """What a model does; it decides which metrics apply to its rows."""

    UNCONDITIONAL = "unconditional"
    CLASS_CONDITIONAL = "class-conditional"
    PAIRED = "paired-image-to-image"
    UNPAIRED = "unpaired-image-to-image"
    MULTI_DOMAIN = "multi-domain"
    STYLE_TRANSFER = "style-transfer"
    LIKELIHOOD = "likelihood"


@dataclass
class Batch:
    """One training batch, already on the model's device.

    x: images as float32 (B, C, H, W) in [-1, 1], or points as float32 (B, D).
    y: int64 (B,) labels / domain ids, or None.
    x2: the paired or unpaired second domain's images (image-to-image tasks), or None.
    """

    x: torch.Tensor
    y: torch.Tensor | None = None
    x2: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])


class Baseline(abc.ABC):
    """A model family. Subclasses set the class attributes and implement the methods.

    Class attributes:
      task: the TaskKind.
      defaults: every hyperparameter with its paper default; ``--set`` may override only
        these keys. ``batch_size`` is required.
      paper: the citation the defaults come from.
      data_kinds: which DataInfo.kind values the model accepts.
      paper_widths: the paper's width hyperparameters where the defaults are narrower.
      data_parallel_refusal: why the family cannot train data-parallel (world size > 1), or "".
    """

    task: ClassVar[TaskKind] = TaskKind.UNCONDITIONAL
    defaults: ClassVar[Mapping[str, Any]] = {}
    paper: ClassVar[str] = ""
    data_kinds: ClassVar[tuple[str, ...]] = ("image",)
    batches_per_step: int = 1
    # The paper's network widths where the defaults are narrower for CPU speed (e.g. {"ngf": 128});
    # the standard suite runs these, and a row whose widths are below them says so (network_width).
    paper_widths: ClassVar[Mapping[str, Any]] = {}
    data_parallel_refusal: ClassVar[str] = ""

    def __init__(self) -> None:
        self.hp: dict[str, Any] = {}
        self.device = torch.device("cpu")

    # -- construction -------------------------------------------------------------
    @classmethod
    def resolve_hparams(cls, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults updated with overrides; unknown keys and type changes are errors."""
        unknown = sorted(set(overrides) - set(cls.defaults))
        if unknown:
            raise SpecError(
                f"unknown hyperparameter(s) {unknown} for baseline {cls.__name__}; "
                f"known: {sorted(cls.defaults)}"
            )
        hp = dict(cls.defaults)
        for key, value in overrides.items():
            default = cls.defaults[key]
            if isinstance(default, bool) != isinstance(value, bool) or (
                isinstance(default, (int, float)) and not isinstance(value, (int, float))
            ) or (isinstance(default, str) and not isinstance(value, str)):
                raise SpecError(
                    f"hyperparameter {key}={value!r} has the wrong type; default is {default!r}"
                )
            if isinstance(default, float) and isinstance(value, int):
                value = float(value)
            if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float):
                if not value.is_integer():
                    raise SpecError(f"hyperparameter {key} must be an integer, got {value!r}")
                value = int(value)
            hp[key] = value
        return hp

    def setup(
        self, hparams: Mapping[str, Any], data: DataInfo, device: torch.device, generator: torch.Generator
    ) -> None:
        """Validate and store hyperparameters, then call ``build``. Called once by the loop."""
        if data.kind not in self.data_kinds:
            raise SpecError(
                f"baseline {type(self).__name__} takes {self.data_kinds} data, "
                f"but dataset {data.name!r} is {data.kind!r}"
            )
        self.hp = self.resolve_hparams(hparams)
        self.device = torch.device(device)
        self.data_info = data
        self.generator = generator
        self.build(self.hp, data, generator)

    @abc.abstractmethod
    def build(self, hp: Mapping[str, Any], data: DataInfo, generator: torch.Generator) -> None:
        """Create networks and optimizers on ``self.device``, initialised from ``generator``."""

    # -- training -----------------------------------------------------------------
    @abc.abstractmethod
    def train_step(self, batches: Sequence[Batch]) -> dict[str, torch.Tensor]:
        """One generator update using ``batches_per_step`` batches; returns 0-d loss tensors.

        Randomness (latents, noise) must come from ``self.generator`` so that a resumed
        run is bit-identical.
        """

    # -- sampling -----------------------------------------------------------------
    @abc.abstractmethod
    def sample(self, n: int, generator: torch.Generator, condition: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` samples drawn with ``generator`` (never global RNG).

        Images: uint8 (n, C, H, W) on the CPU. Points: float32 (n, D) on the CPU.
        ``condition``: int64 (n,) labels for conditional tasks, source images for
        image-to-image tasks, else None.
        """

    def evaluate(
        self, x: torch.Tensor, y: torch.Tensor | None, generator: torch.Generator
    ) -> dict[str, float]:
        """Model-dependent metrics (ELBO, NLL, ...) on a held-out split; none by default.

        x: the split's uint8 (N, C, H, W) images (or float32 points) on the CPU; y: int64
        labels or None. Keys are metric names (e.g. ``elbo``); ``higher_is_better`` for each
        key goes in the class attribute ``evaluate_higher_is_better``.
        """
        return {}

    evaluate_higher_is_better: ClassVar[Mapping[str, bool]] = {}

    # -- checkpoints --------------------------------------------------------------
    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Plain dict of tensors / numbers / nested dicts (loadable with weights_only=True)."""

    @abc.abstractmethod
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Inverse of ``state_dict``."""

    # -- mixed precision (fp16 needs loss scaling; bf16 and fp32 do not) -------------
    amp_scaler: Any = None  # a torch.amp.GradScaler under --amp fp16, set by bench.perf.apply_perf
    # data-parallel runs (bench/distributed.py): the ranks, and grad_reducer(optimizer), which
    # averages that optimizer's gradients over the ranks; optimizer_step calls it before stepping.
    # A model's batches are its rank's slice: the global batch holds len(batch) * world_size images.
    world_size: int = 1
    grad_reducer: Any = None

    def minimize(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """One update of ``optimizer`` on ``loss``: its gradients zeroed, then ``backward`` and
        ``optimizer_step`` (fp16 loss scaling, rank averaging). Use it in train_step, also for an
        optimizer that steps several times in one train_step (WGAN's n_critic critic steps); call the
        two yourself where one backward feeds several optimizers (BEGAN's simultaneous update).

        Under fp16 a repeated step first updates the loss scale (``amp_update``), before this
        backward scales the loss: the GradScaler allows one step per optimizer between updates, and
        the scale that unscales the gradients must be the one that scaled them.
        """
        if self.amp_scaler is not None and id(optimizer) in self.__dict__.get("_amp_stepped", ()):
            self.amp_update()
        optimizer.zero_grad(set_to_none=True)
        self.backward(loss)
        self.optimizer_step(optimizer)

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()``, through the GradScaler under fp16 autocast. Use it in train_step."""
        (loss if self.amp_scaler is None else self.amp_scaler.scale(loss)).backward()

    def optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """``optimizer.step()``, skipped by the GradScaler when fp16 gradients overflowed; in a
        data-parallel run the gradients are first averaged over the ranks (``grad_reducer``).

        Under fp16 each optimizer steps at most once per ``backward``/``optimizer_step`` sequence
        between loss-scale updates: a second step of the same optimizer in one train_step is an
        error (its gradients were scaled before the scale may change): use ``minimize`` for it.
        """
        if self.amp_scaler is not None and id(optimizer) in self.__dict__.get("_amp_stepped", ()):
            # updating the scale here (after the backward that scaled these gradients by S, before
            # the step that unscales them) would apply them times S / S' whenever the scale changes
            raise RuntimeError(
                f"{type(self).__name__}.train_step steps its {type(optimizer).__name__} optimizer a second "
                "time since the last fp16 loss-scale update through backward() + optimizer_step(); the "
                "loss scale must be updated before the backward that scales its new gradients. Use "
                "self.minimize(loss, optimizer) for an optimizer that steps several times in one "
                "train_step (it updates the scale first)"
            )
        if self.grad_reducer is not None:
            self.grad_reducer(optimizer)
        if self.amp_scaler is None:
            optimizer.step()
            return
        self.amp_scaler.step(optimizer)
        self.__dict__.setdefault("_amp_stepped", set()).add(id(optimizer))

    def amp_update(self) -> None:
        """Adapts the fp16 loss scale; the loop calls it after each train_step, ``minimize`` before
        an optimizer's repeated step."""
        stepped = self.__dict__.get("_amp_stepped")
        if self.amp_scaler is not None and stepped:
            self.amp_scaler.update()
            stepped.clear()

    # -- helpers for subclasses -----------------------------------------------------
    def train(self) -> None:  # noqa: D401 - mode switches for subclasses with BN / dropout
        """Put networks in training mode (override when the model has several)."""

    def eval(self) -> None:
        """Put networks in evaluation mode."""


BASELINES: Registry[type[Baseline]] = Registry("baseline")

REQUIRED_METHODS = ("build", "train_step", "sample", "state_dict", "load_state_dict")


def check_baseline_class(cls: Any, origin: str) -> type[Baseline]:
    """A plugin class must subclass Baseline or at least provide its methods."""
    if not isinstance(cls, type):
        raise SpecError(f"{origin} is not a class")
    missing = [m for m in REQUIRED_METHODS if not callable(getattr(cls, m, None))]
    missing += [m for m in getattr(cls, "__abstractmethods__", ()) if m not in missing]
    if missing:
        raise SpecError(f"{origin} does not implement the Baseline interface: missing {sorted(missing)}")
    if not isinstance(getattr(cls, "defaults", None), Mapping) or "batch_size" not in cls.defaults:
        raise SpecError(f"{origin} must define a class attribute `defaults` with a 'batch_size' key")
    if not issubclass(cls, Baseline):
        raise SpecError(f"{origin} must subclass genbench.baselines.Baseline")
    return cls


def resolve_baseline(name: str) -> type[Baseline]:
    """A registered name, an installed ``genbench.baselines`` entry point, or
    ``package.module:ClassName`` for a researcher's own model."""
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise SpecError(
                f"cannot import module {module_name!r} for baseline {name!r}: {exc}; put its folder on "
                "PYTHONPATH (e.g. PYTHONPATH=. genbench run ...) or pip install its package"
            ) from exc
        if not hasattr(module, attr):
            raise SpecError(f"module {module_name!r} has no attribute {attr!r}")
        return check_baseline_class(getattr(module, attr), name)
    if name not in BASELINES:  # not built in: look at installed plugins (entry points)
        from genbench.baselines.plugins import load_entry_points

        load_entry_points()
    return BASELINES.get(name)
