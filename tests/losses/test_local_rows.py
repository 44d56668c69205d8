"""The row split behind ``local_loss``, in one process: the anchors of each slice of the batch, computed on their
own against the whole batch, give that slice of the whole loss's per-anchor values, and the slices' parts of
the loss (and their gradients) add up to the whole loss (and its gradient). The multi-process equivalence is in
tests/test_distributed.py."""

import pytest
import torch
import torch.nn.functional as F

from crossclr_lab.losses import LOSSES, build_loss

B, D, DIN = 12, 6, 5
CROSSCLR = dict(queue_size=18, temperature=0.1, weight_temperature=0.5, prune_threshold=0.8)
CASES = {name: (name, CROSSCLR if name == "crossclr" else {}) for name in LOSSES}
CASES["crossclr chunked"] = ("crossclr", {**CROSSCLR, "chunk_size": 3})
PER_ANCHOR = ("per_sample_video", "per_sample_text", "weight_video", "weight_text", "connectivity_video",
              "connectivity_text", "influential_video", "influential_text")


def inputs(seed):
    g = torch.Generator().manual_seed(seed)
    v, t = (torch.randn(B, D, generator=g, dtype=torch.float64) for _ in range(2))
    shared = torch.randn(1, DIN, generator=g, dtype=torch.float64)
    feats = [torch.randn(B, DIN, generator=g, dtype=torch.float64) + 2 * shared * torch.rand(B, 1, generator=g,
                                                                                             dtype=torch.float64)
             for _ in range(2)]
    return v, t, *feats


def loss_with_filled_queue(case):
    """The loss of ``case`` in eval mode (computing enqueues nothing) with its queue filled by two batches."""
    name, kwargs = CASES[case]
    loss_fn = build_loss(name, **kwargs)
    for seed in (1, 2):
        loss_fn(*inputs(seed))
    return loss_fn.eval()


@pytest.mark.parametrize("ranks", [2, 3])
@pytest.mark.parametrize("case", list(CASES))
def test_slices_of_anchors_add_up_to_the_whole_loss(case, ranks):
    loss_fn = loss_with_filled_queue(case)
    name = CASES[case][0]
    v, t, vf, tf = inputs(0)
    v.requires_grad_(True)
    t.requires_grad_(True)
    tau = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)

    def compute(rows):
        return loss_fn.compute(F.normalize(v, dim=1), F.normalize(t, dim=1), vf, tf, tau, rows)

    whole = compute(slice(0, B))
    assert whole.rows is None
    want = torch.autograd.grad(whole.loss, (v, t, tau), allow_unused=True)   # max-margin has no temperature
    b = B // ranks
    slices = [slice(r * b, (r + 1) * b) for r in range(ranks)]
    parts = [compute(rows) for rows in slices]
    for rows, part in zip(slices, parts):
        assert part.rows == rows and part.logits_inter is None
        for key in PER_ANCHOR:
            if getattr(whole, key) is not None:
                torch.testing.assert_close(getattr(part, key), getattr(whole, key)[rows], msg=f"{key} of {rows}")
    for key in ("loss", "loss_video", "loss_text"):
        torch.testing.assert_close(sum(getattr(p, key) for p in parts), getattr(whole, key), msg=key)
    got = torch.autograd.grad(sum(p.loss for p in parts), (v, t, tau), allow_unused=True)
    assert (got[2] is None) == (want[2] is None) == (name == "max_margin")
    for g_got, g_want, what in zip(got, want, ("video", "text", "temperature")):
        if g_want is not None:
            torch.testing.assert_close(g_got, g_want, msg=f"gradient of the {what}")
    if case.startswith("crossclr"):   # pruning and the queue took part
        assert whole.influential_video.any() and whole.queue_filled > 0
