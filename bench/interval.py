"""Evaluation at intervals during training: a curve on a small n, and best-checkpoint selection.

``IntervalEvaluator`` is the hook that ``bench.train.train`` calls every ``IntervalEval.every``
steps. Each call scores the model on ``IntervalEval.split`` (the validation split by default)
with ``IntervalEval.n_fake`` samples and appends a point to the curve; with ``select='best'``
the model state of the best point so far is kept on disk. After training, ``finish`` scores the
final step too (when it was not an interval step), loads the best state into the model when
selecting, and returns the row fields (``curve``, ``checkpoint``, ``checkpoint_step``,
``interval_eval``). The reported evaluation on the full n and protocol.split follows in the
runner, on whichever state ``finish`` left in the model.

Files in the run directory (written atomically):
  curve.json          {"spec_hash", "metric", "higher_is_better", "points": [point, ...]}
  best-s<step>.pt     the model state of the best point (select='best' only)

A point is {"step": int, "kimg": float, "wall_s": float (training seconds, evaluation time
excluded), "metric": float (the selecting metric), "metrics": {row key: value},
"eval_s": float (seconds this evaluation took)}.

Resume: the loop writes a checkpoint after every hook call, so the points that a resumed run
keeps are exactly those before its first new evaluation; later points (from a run that was
killed before its next checkpoint) are dropped and evaluated again, and so are the best-state
files that belong to them.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from typing import Any, Callable

import torch

from genbench.baselines.base import Baseline
from genbench.bench.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from genbench.bench.results import atomic_write_text
from genbench.bench.spec import IntervalEval, SpecError
from genbench.bench.train import TrainProgress

CURVE_FILE = "curve.json"
BEST_PATTERN = re.compile(r"^best-s(\d+)\.pt$")

# score(model) -> {"metrics": {key: value}, "higher_is_better": {key: bool}, "n_real": int | None}
ScoreFn = Callable[[Baseline], dict[str, Any]]


# The interval samples' latents come from eval_seed + SAMPLE_SEED_OFFSET (eval_seed + 1 draws the
# code-accuracy samples), not from eval_seed: the reported evaluation draws from eval_seed, and a
# checkpoint selected on the very samples it is then reported on carries its selection noise into
# the number (on ring8/grid25/stacked-mnist, with no reference split, it was the selection's own
# minimum: reverse KL 0.76 reported where the selected state averages 1.15 over fresh latents).
SAMPLE_SEED_OFFSET = 2


def sample_seed(eval_seed: int) -> int:
    """The seed of the interval evaluations' samples of a run with ``eval_seed``."""
    return int(eval_seed) + SAMPLE_SEED_OFFSET


def best_file(step: int) -> str:
    return f"best-s{step}.pt"


class IntervalEvaluator:
    """The interval hook of one run. See the module docstring for files and point format.

    settings: the spec's IntervalEval; run_dir: the run directory; spec_hash: the run's hash
    (curve and best files of another spec are refused); score: scores a model (in eval mode,
    without gradients) on the interval protocol; default_metric: the selecting metric when
    settings.metric is None; resume: keep the points of an earlier, interrupted attempt;
    sample_seed: the seed ``score`` draws its samples from (``sample_seed(eval_seed)``), recorded.
    """

    def __init__(
        self, settings: IntervalEval, run_dir: Path | str, spec_hash: str, score: ScoreFn,
        default_metric: str, resume: bool = True, sample_seed: int | None = None,
    ) -> None:
        self.settings = settings
        self.sample_seed = sample_seed  # recorded on the row: the seed ``score`` draws its samples from
        self.run_dir = Path(run_dir)
        self.spec_hash = spec_hash
        self.score = score
        self.metric = settings.metric or default_metric
        self.higher_is_better: bool | None = None
        self.n_real: int | None = None
        self.points: list[dict[str, Any]] = []
        if resume:
            self._load()
        else:
            self._delete_best_files(keep=None)

    # -- the hook -----------------------------------------------------------------------------
    def __call__(self, model: Baseline, progress: TrainProgress) -> None:
        self._forget_from(progress.steps)
        self._evaluate(model, progress)

    def finish(self, model: Baseline, progress: TrainProgress) -> dict[str, Any]:
        """Score the final step if needed; with select='best' load the best state into ``model``.

        Returns the row fields: curve, checkpoint ('final' | 'best'), checkpoint_step, interval_eval.
        With select='best' and no point with a finite metric, the final state is reported
        (checkpoint 'final'; interval_eval['fallback'] says why).
        """
        self._forget_from(progress.steps + 1)  # points past the end belong to a discarded attempt
        if not self.points or self.points[-1]["step"] != progress.steps:
            self._evaluate(model, progress)
        step, checkpoint = progress.steps, "final"
        if self.settings.select == "best":
            best = self.best_point()
            self._delete_best_files(keep=None if best is None else best["step"])
            if best is None:
                # nothing to select (e.g. a toy reverse KL that is inf until some sample is good): the
                # row reports the final state, says so, and is not failed after all its training
                fields = self.row_fields("final", step)
                fields["interval_eval"]["fallback"] = (f"no interval evaluation had a finite {self.metric}; "
                                                      "the final state is reported")
                return fields
            step, checkpoint = best["step"], "best"
            if step != progress.steps:
                path = self.run_dir / best_file(step)
                if not path.exists():
                    raise CheckpointError(f"best checkpoint {path} (step {step}) is missing; delete {self.run_dir} to rerun")
                model.load_state_dict(load_checkpoint(path, self.spec_hash)["model"])
        return self.row_fields(checkpoint, step)

    def row_fields(self, checkpoint: str | None, checkpoint_step: int | None) -> dict[str, Any]:
        """curve / checkpoint / checkpoint_step / interval_eval, as the result row holds them."""
        return {
            "curve": [dict(p) for p in self.points],
            "checkpoint": checkpoint,
            "checkpoint_step": checkpoint_step,
            "interval_eval": {
                **self.settings.to_dict(), "metric": self.metric, "higher_is_better": self.higher_is_better,
                "n_real": self.n_real, "seconds": sum(p["eval_s"] for p in self.points),
                "sample_seed": self.sample_seed,
            },
        }

    def best_point(self) -> dict[str, Any] | None:
        """The earliest point with the best finite metric (ties keep the earlier step); None when
        no point has a finite metric."""
        best = None
        for p in self.points:
            if self._better(p, best):
                best = p
        return best

    # -- internals ----------------------------------------------------------------------------
    def _better(self, point: dict[str, Any], best: dict[str, Any] | None) -> bool:
        v = point["metric"]
        if not math.isfinite(v):
            return False
        if best is None:
            return True
        return v > best["metric"] if self.higher_is_better else v < best["metric"]

    def _evaluate(self, model: Baseline, progress: TrainProgress) -> None:
        t0 = time.perf_counter()
        # the hook must not change training: no gradients, and the global RNG streams come back as they were
        cpu_rng = torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        model.eval()
        try:
            with torch.no_grad():
                scored = self.score(model)
        finally:
            model.train()
            torch.set_rng_state(cpu_rng)
            if cuda_rng is not None:
                torch.cuda.set_rng_state_all(cuda_rng)
        metrics = {k: float(v) for k, v in scored["metrics"].items()  # numbers only ('skipped: ...' markers out)
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if self.metric not in metrics:
            raise SpecError(
                f"interval_eval metric {self.metric!r} is not among this run's metrics {sorted(metrics)}; "
                "set interval_eval metric to one of them"
            )
        if self.higher_is_better is None:
            hib = scored["higher_is_better"].get(self.metric)
            if hib is None:
                raise SpecError(f"interval_eval metric {self.metric!r} has no direction (higher or lower is "
                                "better); pick a ranked metric")
            self.higher_is_better = bool(hib)
        self.n_real = scored.get("n_real")
        point = {
            "step": progress.steps, "kimg": progress.kimg, "wall_s": progress.wall_seconds,
            "metric": metrics[self.metric], "metrics": metrics, "eval_s": time.perf_counter() - t0,
        }
        is_best = self.settings.select == "best" and self._better(point, self.best_point())
        if is_best:  # the previous best's file stays until the next call: the checkpoint that follows makes it stale
            save_checkpoint(
                self.run_dir / best_file(progress.steps),
                {"spec_hash": self.spec_hash, "steps": progress.steps, "model": model.state_dict()},
            )
        self.points.append(point)
        self._save()

    def _forget_from(self, step: int) -> None:
        """Drop points at or after ``step`` and every best file but the kept best point's."""
        self.points = [p for p in self.points if p["step"] < step]
        if self.settings.select == "best":
            best = self.best_point()
            self._delete_best_files(keep=None if best is None else best["step"])

    def _delete_best_files(self, keep: int | None) -> None:
        if not self.run_dir.exists():
            return
        for path in self.run_dir.iterdir():
            m = BEST_PATTERN.match(path.name)
            if m and int(m.group(1)) != keep:
                path.unlink(missing_ok=True)

    def _save(self) -> None:
        doc = {"spec_hash": self.spec_hash, "metric": self.metric, "higher_is_better": self.higher_is_better,
               "n_real": self.n_real, "points": self.points}
        atomic_write_text(self.run_dir / CURVE_FILE, json.dumps(doc, sort_keys=True) + "\n")

    def _load(self) -> None:
        path = self.run_dir / CURVE_FILE
        if not path.exists():
            return
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"cannot read {path}: {exc}; delete it to evaluate the curve afresh") from None
        if doc.get("spec_hash") != self.spec_hash or doc.get("metric") != self.metric:
            raise CheckpointError(
                f"{path} belongs to spec {doc.get('spec_hash')} / metric {doc.get('metric')!r}, not "
                f"{self.spec_hash} / {self.metric!r}; use another --out directory or delete it"
            )
        self.points = list(doc["points"])
        self.higher_is_better = doc.get("higher_is_better")
        self.n_real = doc.get("n_real")
