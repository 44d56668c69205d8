"""Checkers for the notebooks' "implement it yourself" exercises.

Each ``check_*`` function calls the learner's function on random inputs, compares it with the library's
own implementation and prints one line: ``PASS``, ``NOT YET IMPLEMENTED`` (the stub still raises
``NotImplementedError`` or returns ``None``), or ``MISMATCH`` with the first failing input and a hint
(recognised common mistakes get a specific one). A checker never raises because of the learner's code, so
a notebook with unsolved exercises still runs from top to bottom; it returns a :class:`CheckResult`.

The learner's code runs under a time limit (:data:`TIME_LIMIT_S`: an endless loop gets "took longer than N s"),
``sys.exit()`` in it is reported rather than obeyed, and the library the references come from must be the one
imported with this module: a function of ``crossclr_lab`` replaced by the learner's code (e.g. the library's
``connectivity`` monkeypatched to the learner's own) fails the check, and the original is put back.

Example::

    def my_connectivity(feat):              # feat [B, D] -> [B]
        x = feat / feat.norm(dim=1, keepdim=True)
        return ((x @ x.T).sum(1) - 1) / (len(x) - 1)

    check_connectivity(my_connectivity)     # prints "PASS check_connectivity: ..."

Solutions: ``notebooks/solutions/exercises.py``.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import traceback
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

import crossclr_lab.losses
import crossclr_lab.metrics  # noqa: F401  (imported now, so its functions are in the snapshot below)

TIME_LIMIT_S = 30.0       # per check, for all its trials; the learner's code is stopped after it
TOLERANCE = 1e-4          # relative and absolute, on float64 results


@dataclass(frozen=True)
class CheckResult:
    """The outcome of a check: ``status`` is ``"pass"``, ``"todo"`` (not implemented) or ``"fail"``."""

    name: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def __bool__(self) -> bool:
        return self.passed


class _Mismatch(Exception):
    """Raised inside a checker when the learner's output differs from the reference (carries the message)."""


def _report(name: str, status: str, message: str, verbose: bool) -> CheckResult:
    label = {"pass": "PASS", "todo": "NOT YET IMPLEMENTED", "fail": "MISMATCH"}[status]
    result = CheckResult(name, status, message)
    if verbose:
        print(f"{label} {name}: {message}")
    return result


class _TimedOut(BaseException):
    """Raised in the learner's code when a check runs past :data:`TIME_LIMIT_S` (a ``BaseException``, so a
    learner's ``except Exception`` cannot swallow it)."""


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`_TimedOut` in this thread after ``seconds`` (``SIGALRM``: main thread on POSIX; elsewhere
    no limit can interrupt Python code, so none is set)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise _TimedOut

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _library() -> dict[tuple, object]:
    """``(module, class or None, name) -> object`` for every function and class of the imported ``crossclr_lab``
    modules and every method of their classes: what a learner's monkeypatch would replace."""
    found = {}
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("crossclr_lab") or module_name == __name__ or module is None:
            continue
        for name, obj in list(vars(module).items()):
            if callable(obj) and not isinstance(obj, type(sys)):
                found[(module_name, None, name)] = obj
                if isinstance(obj, type) and obj.__module__ == module_name:
                    found.update({(module_name, name, attr): value for attr, value in list(vars(obj).items())
                                  if callable(value)})
    return found


def _replaced(snapshot: dict[tuple, object]) -> list[str]:
    """The entries of ``snapshot`` that were replaced or deleted since; each is put back. Returns their names."""
    changed = []
    for (module_name, cls, name), obj in snapshot.items():
        owner = sys.modules.get(module_name)
        if owner is not None and cls is not None:
            owner = vars(owner).get(cls)
        current = vars(owner).get(name, None) if owner is not None else obj
        # torch wraps an optimizer class's ``step`` (functools.wraps) when the first instance is made: not a change
        if current is obj or getattr(current, "__wrapped__", None) is obj:
            continue
        setattr(owner, name, obj)
        changed.append(f"{module_name}.{cls + '.' if cls else ''}{name}")
    return changed


_IMPORTED = _library()    # the library as imported, before any learner's code ran


def _run(name: str, trials: Callable[[], str], verbose: bool) -> CheckResult:
    """Run ``trials`` (which raises :class:`_Mismatch` or returns a success message) under :data:`TIME_LIMIT_S`,
    with the library checked to be the one imported (before and after), and report the outcome."""
    tampered = "crossclr_lab was changed{}: {} replaced; the checks compare with the library's own functions, " \
               "so solve the exercise without changing the library (the originals are back now)"
    if replaced := _replaced(_IMPORTED):
        return _report(name, "fail", tampered.format("", ", ".join(replaced[:3])), verbose)
    before = _library()
    try:
        with _time_limit(TIME_LIMIT_S):
            message = trials()
        if replaced := _replaced(before):
            return _report(name, "fail", tampered.format(" by your function", ", ".join(replaced[:3])), verbose)
        return _report(name, "pass", message, verbose)
    except _TimedOut:
        _replaced(before)
        return _report(name, "fail", f"your function took longer than {TIME_LIMIT_S:g} s and was stopped (an endless "
                       "loop? these inputs are small): fix it, then run this cell again", verbose)
    except SystemExit as err:
        _replaced(before)
        return _report(name, "fail", f"your function called sys.exit({err.code!r}) (or exit()); return the result "
                       "instead", verbose)
    except NotImplementedError:
        return _report(name, "todo", "replace `raise NotImplementedError` with your code, then run this cell again",
                       verbose)
    except _Mismatch as err:
        message = str(err)
        status = "todo" if message.startswith("returned None") else "fail"
        return _report(name, status, message, verbose)
    except Exception as err:  # the learner's code raised: show where, never stop the notebook
        where = traceback.extract_tb(err.__traceback__)[-1]
        return _report(name, "fail", f"your function raised {type(err).__name__}: {err} (line {where.lineno}: "
                       f"{where.line!r})", verbose)


def _as_array(value, name: str) -> np.ndarray:
    if value is None:
        raise _Mismatch(f"returned None: finish {name} so that it returns its result")
    if isinstance(value, Tensor):
        value = value.detach().cpu()
    return np.asarray(value, dtype=np.float64)


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.allclose(a, b, rtol=TOLERANCE, atol=TOLERANCE)


def _diagnose(got: np.ndarray, candidates: dict[str, np.ndarray], default: str) -> str:
    """The hint of the first known mistake whose result equals ``got``, else ``default``."""
    for hint, wrong in candidates.items():
        if _close(got, wrong):
            return hint
    return default


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _clustered_features(b: int, d: int, g: torch.Generator) -> Tensor:
    """``[b, d]`` float64 features with a shared direction (so connectivities differ and are mostly positive)."""
    shared = torch.randn(1, d, generator=g, dtype=torch.float64)
    strength = 2 * torch.rand(b, 1, generator=g, dtype=torch.float64)
    scale = 0.5 + 2 * torch.rand(b, 1, generator=g, dtype=torch.float64)     # norms differ: cosine must normalise
    return (torch.randn(b, d, generator=g, dtype=torch.float64) + strength * shared) * scale


# -- 01: connectivity and the pruning mask ---------------------------------------------------------------------
def check_connectivity(fn: Callable[[Tensor], Tensor], trials: int = 5, seed: int = 0,
                       verbose: bool = True) -> CheckResult:
    """Check ``fn(feat [B, D]) -> [B]``: each row's mean cosine similarity to the *other* rows (CrossCLR's C_i,
    :func:`crossclr_lab.losses.connectivity` without a queue)."""
    from crossclr_lab.losses import connectivity

    def run() -> str:
        g = _generator(seed)
        for trial in range(trials):
            b, d = int(torch.randint(4, 12, (1,), generator=g)), int(torch.randint(3, 9, (1,), generator=g))
            feat = _clustered_features(b, d, g)
            x = F.normalize(feat, dim=1)
            expected = connectivity(x).numpy()
            got = _as_array(fn(feat.clone()), "your function")
            if got.shape != expected.shape:
                raise _Mismatch(f"trial {trial}: for feat of shape {tuple(feat.shape)} you returned shape "
                                f"{got.shape}; expected ({b},): one number per row")
            if not _close(got, expected):
                raw = feat @ feat.T
                cos = x @ x.T
                hint = _diagnose(got, {
                    "use cosine similarity: L2-normalise the rows first (F.normalize(feat, dim=1))":
                        ((raw.sum(1) - raw.diagonal()) / (b - 1)).numpy(),
                    "leave the sample itself out: subtract its self-similarity (1 after normalising)":
                        (cos.sum(1) / b).numpy(),
                    "divide by B − 1, the number of *other* samples, not by B":
                        ((cos.sum(1) - 1) / b).numpy(),
                    "subtract the self-similarity before averaging: (Σ_j cos(x_i, x_j) − 1) / (B − 1)":
                        (cos.sum(1) / (b - 1)).numpy(),
                }, "C_i = (1/(B−1)) Σ_{j≠i} cos(x_i, x_j)")
                raise _Mismatch(f"trial {trial} (B={b}, D={d}): expected {np.round(expected, 4).tolist()}, got "
                                f"{np.round(got, 4).tolist()}. Hint: {hint}")
        return f"your connectivity equals the library's on {trials} random batches"

    return _run("check_connectivity", run, verbose)


def check_pruning_mask(fn: Callable[[Tensor, float], Tensor], trials: int = 8, seed: int = 0,
                       verbose: bool = True) -> CheckResult:
    """Check ``fn(conn [B], gamma) -> bool [B]``: which samples are influential (pruned), i.e.
    ``C_i / max_j C_j > γ`` (:func:`crossclr_lab.losses.influential`)."""
    from crossclr_lab.losses import influential

    def run() -> str:
        g = _generator(seed)
        for trial in range(trials):
            b = int(torch.randint(5, 16, (1,), generator=g))
            conn = 0.2 + 0.8 * torch.rand(b, generator=g, dtype=torch.float64)
            gamma = [1.0, 0.9, 0.75, 0.5][trial % 4]
            if trial % 4 == 2:           # a tie at exactly γ: the rule is strict
                conn[0] = gamma * conn.max()
            expected = influential(conn, gamma).numpy()
            got = _as_array(fn(conn.clone(), gamma), "your function")
            if got.shape != expected.shape or not np.array_equal(got.astype(bool), expected):
                scaled = (conn / conn.max()).numpy()
                hint = _diagnose(got.astype(float) if got.shape == expected.shape else got, {
                    "divide by the batch maximum first: Ĉ_i = C_i / max_j C_j":
                        (conn.numpy() > gamma).astype(float),
                    "the rule is strict: influential means Ĉ_i > γ, not >= γ (γ = 1 prunes nothing)":
                        (scaled >= gamma).astype(float),
                    "influential samples are the *most* connected: Ĉ_i > γ, not below it":
                        (scaled < gamma).astype(float),
                }, "influential = C / C.max() > gamma (a bool tensor)")
                raise _Mismatch(f"trial {trial}: conn={np.round(conn.numpy(), 3).tolist()}, γ={gamma}: expected "
                                f"{expected.astype(int).tolist()}, got {np.asarray(got).astype(int).tolist()}. "
                                f"Hint: {hint}")
        return f"your pruning mask equals the library's on {trials} batches (including a tie at γ and γ = 1)"

    return _run("check_pruning_mask", run, verbose)


# -- 02: the CrossCLR loss of one video anchor -----------------------------------------------------------------
def check_anchor_loss(fn: Callable[..., float], trials: int = 5, seed: int = 0, verbose: bool = True) -> CheckResult:
    """Check ``fn(v [B, D], t [B, D], i, tau, lam, pruned [B] bool) -> float``: the CrossCLR loss of video anchor
    ``i`` (the function L2-normalises the embeddings, which arrive with other norms; no weighting, no queue)::

        L_v(i) = −log δ(v_i,t_i) / (δ(v_i,t_i) + Σ_{k≠i, k not pruned} δ(v_i,t_k) + λ Σ_{k≠i, k not pruned} δ(v_i,v_k))

    with δ(a, b) = exp(aᵀb / τ); the reference is :class:`crossclr_lab.losses.CrossCLRLoss`' per-sample loss.
    """
    from crossclr_lab.losses import CrossCLRLoss

    def run() -> str:
        g = _generator(seed)
        for trial in range(trials):
            b, d = int(torch.randint(5, 10, (1,), generator=g)), int(torch.randint(3, 8, (1,), generator=g))
            tau, lam = [0.1, 0.5, 0.05, 1.0, 0.2][trial % 5], [0.8, 0.5, 1.0, 0.3, 0.65][trial % 5]
            v = F.normalize(torch.randn(b, d, generator=g, dtype=torch.float64), dim=1)
            t = F.normalize(v + 0.7 * torch.randn(b, d, generator=g, dtype=torch.float64), dim=1)
            # norms differ from 1 (the loss normalises): an answer that skips the normalisation fails
            v = v * (0.5 + torch.rand(b, 1, generator=g, dtype=torch.float64))
            t = t * (0.5 + torch.rand(b, 1, generator=g, dtype=torch.float64))
            feat = _clustered_features(b, 4, g)
            loss_fn = CrossCLRLoss(temperature=tau, intra_weight=lam, prune_threshold=0.8, weight_temperature=None)
            parts = loss_fn.parts(v, t, feat, feat)
            pruned = parts.influential_video.clone()
            i = int(torch.randint(0, b, (1,), generator=g))
            expected = float(parts.per_sample_video[i])
            try:
                got = fn(v.clone(), t.clone(), i, tau, lam, pruned.clone())
            except TypeError as err:
                if "argument" in str(err):
                    raise _Mismatch(f"call it as fn(v, t, i, tau, lam, pruned); Python said: {err}") from None
                raise
            got = _as_array(got, "your function")
            if got.size != 1:
                raise _Mismatch(f"trial {trial}: return one number (the loss of anchor i), got shape {got.shape}")
            got = float(got.reshape(()))
            if not math.isclose(got, expected, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
                hint = _anchor_hint(got, v, t, i, tau, lam, pruned)
                raise _Mismatch(f"trial {trial} (B={b}, i={i}, τ={tau}, λ={lam}, pruned={pruned.int().tolist()}): "
                                f"expected {expected:.5f}, got {got:.5f}. Hint: {hint}")
        return f"your anchor loss equals CrossCLRLoss's on {trials} random batches"

    return _run("check_anchor_loss", run, verbose)


def _anchor_variant(v, t, i, tau, lam, pruned, *, self_in_intra=False, lambda_on_logit=False, keep_pruned=False,
                    zero_mask=False, drop_positive=False) -> float:
    """The anchor loss with one known mistake switched on (for hints)."""
    b = len(v)
    others = torch.arange(b) != i
    kept = others & (torch.zeros(b, dtype=torch.bool) if keep_pruned else ~pruned)
    inter = v[i] @ t.T / tau
    intra = v[i] @ v.T / tau
    intra_terms = lam * intra if lambda_on_logit else intra + math.log(lam)
    intra_kept = kept | (torch.arange(b) == i) if self_in_intra else kept
    terms = [inter[i:i + 1], inter[kept], intra_terms[intra_kept]]
    if drop_positive and pruned[i]:
        terms[0] = inter[:0]
    denominator = torch.logsumexp(torch.cat(terms), 0)
    if zero_mask:
        n_zero = int((others & ~kept).sum()) * 2 + 1
        denominator = torch.logaddexp(denominator, torch.tensor(math.log(n_zero), dtype=denominator.dtype))
    return float(denominator - inter[i])


def _anchor_hint(got, v, t, i, tau, lam, pruned) -> str:
    if math.isclose(got, _anchor_variant(v, t, i, tau, lam, pruned), rel_tol=TOLERANCE, abs_tol=TOLERANCE):
        return "L2-normalise v and t first (F.normalize(x, dim=1)): the embeddings do not arrive with unit length"
    v, t = F.normalize(v, dim=1), F.normalize(t, dim=1)
    mistakes = {
        "leave the anchor itself out of the intra-modality negatives (k ≠ i)": {"self_in_intra": True},
        "λ multiplies δ (add log λ to the intra logits), not the logit itself (that is the authors' code)":
            {"lambda_on_logit": True},
        "remove the pruned samples from both negative sets (inter: their texts; intra: their videos)":
            {"keep_pruned": True},
        "leave pruned entries out entirely: multiplying their logits by 0 still adds exp(0) = 1 each":
            {"zero_mask": True},
    }
    for hint, flags in mistakes.items():
        try:
            if math.isclose(got, _anchor_variant(v, t, i, tau, lam, pruned, **flags), rel_tol=TOLERANCE,
                            abs_tol=TOLERANCE):
                return hint
        except RuntimeError:
            continue
    return ("the positive δ(v_i, t_i) is in the numerator and the denominator; inter negatives are t_k, intra "
            "negatives v_k (k ≠ i, k not pruned), each intra term times λ; return −log of the ratio")


# -- 03: a paired difference over seeds -------------------------------------------------------------------------
def check_paired_difference(fn: Callable[[list, list], tuple], trials: int = 7, seed: int = 0,
                            verbose: bool = True) -> CheckResult:
    """Check ``fn(a, b) -> (mean, sem, beyond_noise)`` for scores ``a``, ``b`` of two variants with the same seeds
    (``a[s]``, ``b[s]``: seed s): the per-seed differences ``a − b``, their mean, standard error
    (sample std / √n) and whether a paired two-sided t-test at 5 % calls the difference real:
    ``|mean| > t_crit · sem`` with ``t_crit`` the critical t for ``n − 1`` degrees of freedom, and at least 3 seeds
    (:func:`crossclr_lab.experiments.stats.paired_difference`). Numbers are compared with a relative tolerance, so
    float32
    answers pass."""
    from crossclr_lab.experiments.stats import ALPHA, MIN_SEEDS, critical_t, paired_difference

    def run() -> str:
        rng = np.random.default_rng(seed)
        for trial in range(trials):
            n = [3, 5, 2, 4, 3, 6, 5][trial % 7]
            base = rng.uniform(10, 40, n)
            shift = [3.0, 0.2, 4.0, -2.5, 0.0, 1.0, 0.0][trial % 7]
            noise = rng.normal(0, 1, n)
            if trial % 7 == 6:          # |mean| / sem = 2.4: beyond 2·sem, not beyond the critical t (2.78)
                noise = noise - noise.mean()
                noise = noise / (noise.std(ddof=1) / math.sqrt(n)) * 0.5 + 1.2
            a, b = (base + shift + noise).round(2).tolist(), base.round(2).tolist()
            diffs = np.subtract(a, b)
            ref = paired_difference(a, b)
            mean, sem, beyond = ref["mean"], ref["sem"], ref["beyond_noise"]
            got = fn(list(a), list(b))
            if got is None:
                raise _Mismatch("returned None: return (mean, sem, beyond_noise)")
            if not isinstance(got, tuple) or len(got) != 3:
                raise _Mismatch(f"return a tuple (mean, sem, beyond_noise), got {got!r}")
            g_mean, g_sem = (float(_as_array(x, "your function").reshape(())) for x in got[:2])
            g_beyond = bool(got[2])
            where = f"trial {trial}: a={a}, b={b}"
            if not math.isclose(g_mean, mean, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
                hint = ("the difference is a − b (the variant minus the baseline), not b − a"
                        if math.isclose(g_mean, -mean, rel_tol=TOLERANCE, abs_tol=TOLERANCE)
                        else "the mean of the per-seed a[s] − b[s]")
                raise _Mismatch(f"{where}: mean difference expected {mean:.4f}, got {g_mean:.4f}. Hint: {hint}")
            if not math.isclose(g_sem, sem, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
                hint = _diagnose(np.array([g_sem]), {
                    "use the sample standard deviation (ddof=1), as with few seeds": np.array(
                        [diffs.std() / math.sqrt(n)]),
                    "sem is std / √n, not the std itself": np.array([diffs.std(ddof=1)]),
                    "take the std of the *paired* differences, not of either variant's scores": np.array(
                        [np.std(a, ddof=1) / math.sqrt(n)]),
                }, "sem = std(a − b, ddof=1) / √n")
                raise _Mismatch(f"{where}: sem expected {sem:.4f}, got {g_sem:.4f}. Hint: {hint}")
            if g_beyond != beyond:
                t_crit = critical_t(n, ALPHA)
                if n < MIN_SEEDS:
                    hint = f"with fewer than {MIN_SEEDS} seeds nothing is beyond noise"
                elif g_beyond == (abs(mean) > 2 * sem):
                    hint = (f"2·sem is the large-sample rule; with {n} seeds the 5 % critical t for {n - 1} degrees "
                            f"of freedom is {t_crit:.2f} (scipy.stats.t.ppf(0.975, n − 1))")
                else:
                    hint = f"beyond noise means |mean| > t_crit · sem, here t_crit = {t_crit:.2f} ({n - 1} dof)"
                raise _Mismatch(f"{where}: beyond_noise expected {beyond} (|mean| / sem = {abs(mean) / sem:.2f}), "
                                f"got {g_beyond}. Hint: {hint}")
        return f"your paired difference agrees with the library's t-test on {trials} comparisons"

    return _run("check_paired_difference", run, verbose)


# -- 04: concept tightness ----------------------------------------------------------------------------------------
def check_tightness_ratio(fn: Callable[[Tensor, list], float], trials: int = 4, seed: int = 0,
                          verbose: bool = True) -> CheckResult:
    """Check ``fn(emb [N, D], labels) -> float``: the mean cosine distance between two items of the same concept
    (averaged per concept, over concepts with >= 2 items) divided by the mean cosine distance between items of
    different concepts (:func:`crossclr_lab.lab.embedding_maps.concept_tightness`'s ``ratio``)."""
    from crossclr_lab.lab.embedding_maps import concept_tightness

    def run() -> str:
        g = _generator(seed)
        for trial in range(trials):
            n_concepts = int(torch.randint(3, 6, (1,), generator=g))
            sizes = torch.randint(1, 6, (n_concepts,), generator=g).tolist()
            sizes[0] = max(sizes[0], 3)          # at least one concept with several items, sizes unequal
            labels = [f"c{c}" for c, s in enumerate(sizes) for _ in range(s)]
            centres = torch.randn(n_concepts, 6, generator=g, dtype=torch.float64)
            emb = torch.cat([centres[c] + 0.6 * torch.randn(s, 6, generator=g, dtype=torch.float64)
                             for c, s in enumerate(sizes)])
            expected = concept_tightness(emb, labels)["ratio"]
            got = _as_array(fn(emb.clone(), list(labels)), "your function")
            if got.size != 1:
                raise _Mismatch(f"trial {trial}: return one number, got shape {got.shape}")
            got = float(got.reshape(()))
            if not math.isclose(got, expected, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
                dist = 1 - F.normalize(emb, dim=1) @ F.normalize(emb, dim=1).T
                lab = np.asarray(labels)
                same = torch.as_tensor(lab[:, None] == lab[None, :])
                off = ~torch.eye(len(lab), dtype=torch.bool)
                pooled = float(dist[same & off].mean() / dist[~same].mean())
                with_self = float(np.mean([dist[np.ix_(lab == c, lab == c)].mean().item() for c in set(labels)
                                           if (lab == c).sum() > 1]) / dist[~same].mean())
                hint = _diagnose(np.array([got]), {
                    "average the intra distance per concept first, then over concepts (each concept counts "
                    "once, whatever its size)": np.array([pooled]),
                    "leave out an item's distance to itself (0) when averaging within a concept":
                        np.array([with_self]),
                    "ratio = intra / inter (lower = tighter), not inter / intra": np.array([1 / expected]),
                }, "cosine distance = 1 − cosine similarity; ratio = mean intra / mean inter")
                raise _Mismatch(f"trial {trial} (concept sizes {sizes}): expected {expected:.5f}, got {got:.5f}. "
                                f"Hint: {hint}")
        return f"your tightness ratio equals the library's on {trials} random spaces"

    return _run("check_tightness_ratio", run, verbose)


# -- 05: recall at K ----------------------------------------------------------------------------------------------
def check_recall_at_k(fn: Callable[[Tensor, Tensor, int], float], trials: int = 5, seed: int = 0,
                      verbose: bool = True) -> CheckResult:
    """Check ``fn(video_emb [N, D], text_emb [N, D], k) -> float``: text→video R@K in percent, the share of
    captions whose own clip (row i) is among the k most similar clips (cosine; ties count against the query,
    as in :func:`crossclr_lab.metrics.retrieval_metrics`)."""
    from crossclr_lab.metrics import retrieval_metrics

    def run() -> str:
        g = _generator(seed)
        for trial in range(trials):
            n = int(torch.randint(8, 30, (1,), generator=g))
            k = [1, 5, 10, 1, 5][trial % 5]
            video = torch.randn(n, 6, generator=g, dtype=torch.float64)
            text = video + 1.2 * torch.randn(n, 6, generator=g, dtype=torch.float64)
            video = video * (0.5 + torch.rand(n, 1, generator=g, dtype=torch.float64))    # norms differ
            expected = retrieval_metrics(video, text)[f"t2v_r{k}"]
            got = _as_array(fn(video.clone(), text.clone(), k), "your function")
            if got.size != 1:
                raise _Mismatch(f"trial {trial}: return one number (a percentage), got shape {got.shape}")
            got = float(got.reshape(()))
            if not math.isclose(got, expected, abs_tol=1e-3):
                v, t = F.normalize(video, dim=1), F.normalize(text, dim=1)
                sims = t @ v.T
                ranks_t2v = (sims > sims.diagonal()[:, None]).sum(1) + 1
                ranks_v2t = (sims.T > sims.diagonal()[:, None]).sum(1) + 1
                raw = text @ video.T
                ranks_raw = (raw > raw.diagonal()[:, None]).sum(1) + 1
                hint = _diagnose(np.array([got]), {
                    "report a percentage (× 100)": np.array([expected / 100]),
                    "text → video: each *caption* (row of text_emb) ranks all clips": np.array(
                        [100 * float((ranks_v2t <= k).double().mean())]),
                    "use cosine similarity: L2-normalise both embeddings first": np.array(
                        [100 * float((ranks_raw <= k).double().mean())]),
                    "a hit is rank <= k (rank 1 = the best), not rank < k": np.array(
                        [100 * float((ranks_t2v < k).double().mean())]),
                }, "rank of clip i for caption i = 1 + number of clips scoring higher; R@K = 100 · mean(rank <= K)")
                raise _Mismatch(f"trial {trial} (N={n}, K={k}): expected {expected:.3f}, got {got:.3f}. "
                                f"Hint: {hint}")
        return f"your R@K equals the library's on {trials} random spaces"

    return _run("check_recall_at_k", run, verbose)


# -- 07: the repetition metric RE@4 --------------------------------------------------------------------------------
def check_repetition(fn: Callable[[list], float], trials: int = 5, seed: int = 0, verbose: bool = True) -> CheckResult:
    """Check ``fn(captions: list[str]) -> float``: RE@4 x100 of one generated caption per clip — per caption, the
    share of its 4-gram occurrences that repeat an earlier one, ``Σ_g (c_g − 1) / Σ_g c_g`` over its distinct
    4-grams ``g`` with counts ``c_g`` (0 for a caption shorter than 4 words), averaged over the captions, x100
    (:func:`crossclr_lab.captioning.metrics.repetition`). Captions are lower case, words separated by spaces."""
    from crossclr_lab.captioning.metrics import repetition

    words = "a cat face with tears of joy smiling grinning on the".split()

    def run() -> str:
        rng = np.random.default_rng(seed)
        for trial in range(trials):
            captions = []
            for _ in range(int(rng.integers(3, 7))):
                base = list(rng.choice(words, int(rng.integers(2, 7))))
                captions.append(" ".join(base * int(rng.integers(1, 4))))    # repeats make repeated 4-grams
            expected = repetition(captions)
            got = _as_array(fn(list(captions)), "your function")
            if got.size != 1:
                raise _Mismatch(f"trial {trial}: return one number (RE@4 x100), got shape {got.shape}")
            got = float(got.reshape(()))
            if not math.isclose(got, expected, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
                grams = [[tuple(c.split()[i:i + 4]) for i in range(len(c.split()) - 3)] for c in captions]
                def per(f):
                    return 100 * float(np.mean([f(g) if g else 0.0 for g in grams]))
                pooled = [x for g in grams for x in g]
                hint = _diagnose(np.array([got]), {
                    "report RE@4 x100 (a percentage)": np.array([expected / 100]),
                    "count repeated *occurrences* (c_g − 1 for each 4-gram), not distinct repeated 4-grams": np.array(
                        [per(lambda g: sum(1 for x in set(g) if g.count(x) > 1) / len(g))]),
                    "divide by all 4-gram occurrences Σ c_g, not by the distinct 4-grams": np.array(
                        [per(lambda g: (len(g) - len(set(g))) / len(set(g)))]),
                    "score each caption on its own, then average over captions (not one pool of all 4-grams)":
                        np.array([100 * (len(pooled) - len(set(pooled))) / max(len(pooled), 1)]),
                }, "per caption: 4-grams = consecutive word 4-tuples; (occurrences − distinct) / occurrences; "
                   "mean over captions x100")
                raise _Mismatch(f"trial {trial} (captions={captions}): expected {expected:.4f}, got {got:.4f}. "
                                f"Hint: {hint}")
        return f"your RE@4 equals the library's on {trials} sets of captions"

    return _run("check_repetition", run, verbose)


# -- 08: the largest weight share ----------------------------------------------------------------------------------
def check_weight_share(fn: Callable[[Tensor, float], float], trials: int = 6, seed: int = 0,
                       verbose: bool = True) -> CheckResult:
    """Check ``fn(feat [B, D], kappa) -> float``: the largest share ``max_i w_i / Σ_j w_j`` of CrossCLR's weights
    in one batch: ``C_i`` the mean cosine of row i to the other rows, ``c_i = C_i / Σ_j C_j``,
    ``w_i = exp(c_i / κ)``; uniform weights (share 1/B) when ``Σ_j C_j <= 0``
    (:func:`crossclr_lab.losses.weight_share.batch_weight_shares`). Rows arrive with different norms."""
    from crossclr_lab.losses import connectivity
    from crossclr_lab.losses.weight_share import batch_weight_shares

    def run() -> str:
        g = _generator(seed)
        for trial in range(trials):
            b, d = int(torch.randint(6, 14, (1,), generator=g)), int(torch.randint(3, 8, (1,), generator=g))
            kappa = [0.05, 0.01, 0.1, 0.02, 0.05, 0.2][trial % 6]
            feat = _clustered_features(b, d, g)
            if trial % 6 == 4:      # centred: Σ C <= 0, the loss falls back to uniform weights
                feat = feat - feat.mean(0)
            expected = float(batch_weight_shares(feat, [np.arange(b)], kappa)[0][0])
            got = _as_array(fn(feat.clone(), kappa), "your function")
            if got.size != 1:
                raise _Mismatch(f"trial {trial}: return one number (the largest share), got shape {got.shape}")
            got = float(got.reshape(()))
            if not math.isclose(got, expected, rel_tol=1e-3, abs_tol=1e-4):
                conn = connectivity(F.normalize(feat, dim=1))
                raw = ((feat @ feat.T).sum(1) - (feat * feat).sum(1)) / (b - 1)

                def share(c):
                    return np.array([float(torch.softmax(c / kappa, 0).max())])
                hint = _diagnose(np.array([got]), {
                    "when Σ_j C_j <= 0 the loss uses uniform weights: the share is 1/B": share(conn / conn.sum()),
                    "c_i = C_i / Σ_j C_j: divide the connectivity by its batch sum before dividing by κ": share(conn),
                    "use cosine similarity: L2-normalise the rows first": share(raw / raw.sum()),
                }, "C_i = mean cosine to the other rows; c_i = C_i / Σ C; w = exp(c / κ); max w / Σ w")
                raise _Mismatch(f"trial {trial} (B={b}, κ={kappa}): expected {expected:.5f}, got {got:.5f}. "
                                f"Hint: {hint}")
        return f"your largest weight share equals CrossCLR's on {trials} batches"

    return _run("check_weight_share", run, verbose)

