"""Frozen run configuration: Budget, EvalProtocol and RunSpec (with its content hash)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from genbench.bench import PROTOCOL_VERSION, __version__
from genbench.bench.fingerprint import PACKAGE_ROOT, file_fingerprint, number_fingerprint

Scalar = (bool, int, float, str, type(None))


class SpecError(ValueError):
    """A RunSpec, Budget or protocol was given a bad value or an unknown key."""


def _plugin_source_fingerprint(baseline: str) -> str:
    """The hash of the source file of a baseline class that lives outside genbench (a researcher's
    ``module:Class`` or an installed plugin), so that editing it makes new runs; '' for built-in
    families (covered by ``number_fingerprint``) or a name that does not resolve (refused later)."""
    import inspect

    from genbench.baselines.base import resolve_baseline  # not at import time: baselines import this module

    try:
        cls = resolve_baseline(baseline)
        source = inspect.getsourcefile(cls)
    except (SpecError, LookupError, TypeError, OSError):
        return ""
    if not source or Path(source).resolve().is_relative_to(PACKAGE_ROOT):
        return ""
    return file_fingerprint(source)


def _check_keys(kind: str, given: Mapping[str, Any], cls: type) -> None:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise SpecError(f"unknown {kind} key(s) {unknown}; known: {sorted(known)}")


@dataclass(frozen=True)
class Budget:
    """When training stops: the first limit reached wins, and the row records which.

    A step is one generator update (a WGAN step holds its n_critic critic updates);
    kimg counts thousands of real images shown to the discriminator or encoder.
    """

    max_steps: int | None = None
    max_kimg: float | None = None
    max_wall_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.max_steps is None and self.max_kimg is None and self.max_wall_seconds is None:
            raise SpecError(
                "a Budget needs at least one limit: max_steps, max_kimg or max_wall_seconds "
                "(CLI: --steps, --kimg or --minutes)"
            )
        if self.max_steps is not None and (
            isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int) or self.max_steps < 0
        ):
            raise SpecError(f"max_steps must be an integer >= 0, got {self.max_steps!r}")
        for name in ("max_kimg", "max_wall_seconds"):
            v = getattr(self, name)
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0
            ):
                raise SpecError(f"{name} must be a finite number >= 0, got {v!r}")

    def reached(self, steps: int, kimg: float, wall_seconds: float) -> str | None:
        """Name of the first limit reached ('steps', 'kimg', 'wall'), or None."""
        if self.max_steps is not None and steps >= self.max_steps:
            return "steps"
        if self.max_kimg is not None and kimg >= self.max_kimg:
            return "kimg"
        if self.max_wall_seconds is not None and wall_seconds >= self.max_wall_seconds:
            return "wall"
        return None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Budget":
        _check_keys("budget", d, cls)
        return cls(**d)


@dataclass(frozen=True)
class EvalProtocol:
    """How a trained model is scored. Every field changes the numbers, so all are hashed.

    extractor: feature extractor registry name; n_fake: generated samples scored;
    n_real: reference images (None = the whole reference split); split: the reference
    split the reported metrics use ('test'; 'val' is for checkpoint selection);
    pr_k: k of precision/recall; is_splits: splits of the Inception-style score;
    resize_mode: the extractor's resize mode (None: its default, e.g. 'legacy-tf');
    weights_sha256: the sha256 of custom extractor weights (None: the official weights).
    """

    extractor: str = "mnist-lenet"
    n_fake: int = 2000
    n_real: int | None = None
    split: str = "test"
    pr_k: int = 3
    is_splits: int = 10
    resize_mode: str | None = None
    weights_sha256: str | None = None

    def __post_init__(self) -> None:
        if self.weights_sha256 is not None and (
            not isinstance(self.weights_sha256, str) or len(self.weights_sha256) != 64
            or any(c not in "0123456789abcdef" for c in self.weights_sha256.lower())
        ):
            raise SpecError(f"protocol weights_sha256 must be 64 hex digits, got {self.weights_sha256!r}")
        for name in ("n_fake", "pr_k", "is_splits"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise SpecError(f"protocol {name} must be an integer >= 1, got {v!r}")
        if self.n_real is not None and (not isinstance(self.n_real, int) or self.n_real < 2):
            raise SpecError(f"protocol n_real must be None or an integer >= 2, got {self.n_real!r}")
        if self.split not in ("train", "val", "test"):
            raise SpecError(f"protocol split must be train, val or test, got {self.split!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "EvalProtocol":
        _check_keys("protocol", d, cls)
        return cls(**d)


AMP_MODES = ("off", "bf16", "fp16")


@dataclass(frozen=True)
class PerfOptions:
    """Speed options of training and sampling; each can change the numbers, so each is hashed.

    amp: autocast dtype for train steps and sampling ('off', 'bf16', or 'fp16' with a GradScaler
    through ``Baseline.backward`` / ``Baseline.optimizer_step``); feature extraction and the
    metrics never autocast. channels_last: NHWC memory format for 4-D parameters and image
    batches. compile: ``nn.Module.compile()`` on the model's networks (in place, so
    checkpoints keep their keys). tf32: TF32 matmuls and cuDNN convolutions during training and
    sampling (Ampere and later). genbench turns TF32 off unless asked, and always for the
    extractor, so an fp32 number means fp32 (PyTorch's own default runs cuDNN convolutions in
    TF32). The row records the settings in force.
    """

    amp: str = "off"
    channels_last: bool = False
    compile: bool = False
    tf32: bool = False

    def __post_init__(self) -> None:
        if self.amp not in AMP_MODES:
            raise SpecError(f"perf amp must be one of {', '.join(AMP_MODES)}, got {self.amp!r}")
        for name in ("channels_last", "compile", "tf32"):
            if not isinstance(getattr(self, name), bool):
                raise SpecError(f"perf {name} must be true or false, got {getattr(self, name)!r}")

    @property
    def is_default(self) -> bool:
        return self == PerfOptions()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "PerfOptions":
        _check_keys("perf", d, cls)
        return cls(**d)


SELECT_CHOICES = ("final", "best")


@dataclass(frozen=True)
class IntervalEval:
    """Evaluation every ``every`` steps during training, on a small n, for curves and selection.

    every: steps between evaluations (the final step is always evaluated too);
    n_fake: generated samples per evaluation (the reported evaluation keeps protocol.n_fake);
    split: the reference split of these evaluations ('val'; the reported one is protocol.split);
    select: 'final' reports the last training step, 'best' the step whose ``metric`` on
    ``split`` is best (which must then differ from the reported split); metric: the row key that
    selects (None: the extractor's Fréchet distance, or 'reverse_kl' on mode-counting datasets).
    """

    every: int
    n_fake: int = 500
    split: str = "val"
    select: str = "final"
    metric: str | None = None

    def __post_init__(self) -> None:
        for name, low in (("every", 1), ("n_fake", 2)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise SpecError(f"interval_eval {name} must be an integer >= {low}, got {v!r}")
        if self.split not in ("train", "val", "test"):
            raise SpecError(f"interval_eval split must be train, val or test, got {self.split!r}")
        if self.select not in SELECT_CHOICES:
            raise SpecError(f"interval_eval select must be one of {SELECT_CHOICES}, got {self.select!r}")
        if self.metric is not None and (not isinstance(self.metric, str) or not self.metric):
            raise SpecError(f"interval_eval metric must be a metric's row key (e.g. 'fd_mnist') or None, got {self.metric!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "IntervalEval":
        _check_keys("interval_eval", d, cls)
        if "every" not in d:
            raise SpecError("interval_eval needs 'every' (steps between evaluations)")
        return cls(**d)


def parse_override(text: str) -> tuple[str, Any]:
    """Parse one ``--set key=value``; the value is JSON where it parses, else a string.

    >>> parse_override("lr=1e-4")
    ('lr', 0.0001)
    >>> parse_override("loss=minimax")
    ('loss', 'minimax')
    """
    if "=" not in text:
        raise SpecError(f"--set expects key=value, got {text!r} (example: --set lr=1e-4)")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key.isidentifier():
        raise SpecError(f"--set key must be an identifier, got {key!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value


def _normalize_overrides(overrides: Any) -> tuple[tuple[str, Any], ...]:
    items = overrides.items() if isinstance(overrides, Mapping) else overrides
    out = []
    for item in items:
        key, value = item
        if isinstance(value, list):
            value = tuple(value)
        if not isinstance(value, Scalar) and not (
            isinstance(value, tuple) and all(isinstance(v, Scalar) for v in value)
        ):
            raise SpecError(f"override {key}={value!r}: values must be JSON scalars or lists of them")
        out.append((str(key), value))
    keys = [k for k, _ in out]
    if len(set(keys)) != len(keys):
        raise SpecError(f"override keys repeat: {keys}")
    return tuple(sorted(out))


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines one run. ``hash`` names its run directory.

    ``data_root``, ``checkpoint_every`` and ``weights_path`` (the weights' sha256 is in the
    protocol) do not change the numbers and are left out of the hash; everything else, plus the genbench and protocol versions, is in it.
    ``interval_eval`` (None: no evaluation during training) is hashed only when set, so specs
    without it keep the hashes they had before the field existed. ``world_size``: data-parallel
    ranks (bench/distributed.py; batch_size stays the global batch); per-rank batch statistics
    change the numbers, so it is hashed when > 1 (and left out at 1, keeping older hashes).
    """

    baseline: str
    dataset: str
    budget: Budget
    seed: int = 0
    eval_seed: int = 0
    overrides: tuple[tuple[str, Any], ...] = ()
    protocol: EvalProtocol = field(default_factory=EvalProtocol)
    device: str = "cpu"
    data_root: str | None = None
    checkpoint_every: int = 0
    weights_path: str | None = None
    perf: PerfOptions = field(default_factory=PerfOptions)
    interval_eval: IntervalEval | None = None
    world_size: int = 1

    def __post_init__(self) -> None:
        for name in ("baseline", "dataset"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise SpecError(f"{name} must be a non-empty string")
        for name in ("seed", "eval_seed", "checkpoint_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise SpecError(f"{name} must be an integer >= 0, got {v!r}")
        if isinstance(self.world_size, bool) or not isinstance(self.world_size, int) or self.world_size < 1:
            raise SpecError(f"world_size must be an integer >= 1 (data-parallel ranks), got {self.world_size!r}")
        if isinstance(self.budget, Mapping):
            object.__setattr__(self, "budget", Budget.from_dict(self.budget))
        if isinstance(self.protocol, Mapping):
            object.__setattr__(self, "protocol", EvalProtocol.from_dict(self.protocol))
        if isinstance(self.perf, Mapping):
            object.__setattr__(self, "perf", PerfOptions.from_dict(self.perf))
        object.__setattr__(self, "overrides", _normalize_overrides(self.overrides))
        if isinstance(self.interval_eval, Mapping):
            object.__setattr__(self, "interval_eval", IntervalEval.from_dict(self.interval_eval))
        ie = self.interval_eval
        if ie is not None and ie.select == "best" and ie.split == self.protocol.split:
            raise SpecError(
                f"interval_eval select='best' would pick the checkpoint on split {ie.split!r}, the split the "
                "row reports (protocol.split): select on another split (interval_eval split='val')"
            )

    @property
    def hparams(self) -> dict[str, Any]:
        return dict(self.overrides)

    def hashed_fields(self) -> dict[str, Any]:
        d = self.to_dict()
        del d["data_root"], d["checkpoint_every"], d["weights_path"]
        if self.perf.is_default:  # runs made before the options existed keep their hashes
            del d["perf"]
        if self.interval_eval is None:  # likewise runs made before interval evaluation existed
            del d["interval_eval"]
        if self.world_size == 1:  # and single-process runs, made before data parallelism existed
            del d["world_size"]
        d["genbench_version"] = __version__
        d["protocol_version"] = PROTOCOL_VERSION
        d["code"] = number_fingerprint()  # the code that makes the numbers (bench/fingerprint.py)
        plugin = _plugin_source_fingerprint(self.baseline)
        if plugin:
            d["baseline_code"] = plugin
        return d

    @property
    def hash(self) -> str:
        blob = json.dumps(self.hashed_fields(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def run_name(self) -> str:
        """Directory name: readable prefix plus the content hash."""
        safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in self.baseline)
        return f"{safe}-{self.dataset}-s{self.seed}-{self.hash}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "dataset": self.dataset,
            "budget": self.budget.to_dict(),
            "seed": self.seed,
            "eval_seed": self.eval_seed,
            "overrides": {k: list(v) if isinstance(v, tuple) else v for k, v in self.overrides},
            "protocol": self.protocol.to_dict(),
            "device": self.device,
            "data_root": self.data_root,
            "checkpoint_every": self.checkpoint_every,
            "weights_path": self.weights_path,
            "perf": self.perf.to_dict(),
            "interval_eval": None if self.interval_eval is None else self.interval_eval.to_dict(),
            "world_size": self.world_size,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RunSpec":
        _check_keys("RunSpec", d, cls)
        d = dict(d)
        if "budget" not in d:
            raise SpecError("RunSpec needs a budget")
        d["budget"] = Budget.from_dict(d["budget"])
        if "protocol" in d:
            d["protocol"] = EvalProtocol.from_dict(d["protocol"])
        if "perf" in d:
            d["perf"] = PerfOptions.from_dict(d["perf"])
        return cls(**d)

    def replace(self, **changes: Any) -> "RunSpec":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class DataInfo:
    """What a baseline may know about its dataset when it builds its networks.

    kind: 'image' (uint8 NCHW storage, float [-1, 1] batches) or 'points' (float (N, D)).
    shape: per-sample shape, (C, H, W) for images or (D,) for points.
    num_classes: number of labels, or None when the data is unlabelled.
    splits: (name, size) pairs, e.g. (('train', 4000), ('val', 500), ('test', 500)).
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    num_classes: int | None
    splits: tuple[tuple[str, int], ...]
    source: str = ""
    license: str = ""
    sha256: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("image", "points"):
            raise SpecError(f"DataInfo.kind must be 'image' or 'points', got {self.kind!r}")

    @property
    def split_sizes(self) -> dict[str, int]:
        return dict(self.splits)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["shape"] = list(self.shape)
        d["splits"] = dict(self.splits)
        return d
