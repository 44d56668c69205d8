"""Issue 23, items 6-7 (library and resume): each call that cannot give a correct result is refused with one line
saying what is wrong, or (the queue under inference_mode) simply works."""

import pytest
import torch
from fixtures.tiny_runs import TRAIN_ARGS, run_cli

from crossclr_lab.data import make_synthetic
from crossclr_lab.lab.loss_explorer import explorer_batch
from crossclr_lab.losses import CrossCLRLoss
from crossclr_lab.metrics import retrieval_metrics, retrieval_ranks
from crossclr_lab.models import build_model
from crossclr_lab.training.checkpoint import load_checkpoint, save_checkpoint


def _one_line(excinfo):
    assert len(str(excinfo.value).strip().splitlines()) == 1
    return str(excinfo.value)


def _pairs(n=8, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)


def test_groups_given_as_a_dict_are_refused_not_used_as_labels():
    v, t = _pairs()
    labels = [i // 2 for i in range(8)]
    assert "t2v_sem_r1" in retrieval_metrics(v, t, groups=labels)
    with pytest.raises(ValueError, match="groups must be a sequence of one label per pair") as excinfo:
        retrieval_metrics(v, t, groups={"concept": labels})
    _one_line(excinfo)


@pytest.mark.parametrize("value", [True, False, "0.9", float("nan")])
def test_a_prune_threshold_that_is_not_a_number_is_refused(value):
    with pytest.raises(ValueError, match="prune_threshold") as excinfo:
        CrossCLRLoss(prune_threshold=value)
    _one_line(excinfo)


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool])
def test_integer_or_bool_input_features_to_crossclr_are_refused(dtype):
    v, t = _pairs()
    feat = torch.ones(8, 3, dtype=dtype)
    with pytest.raises(ValueError, match="video_feat must be a floating-point tensor") as excinfo:
        CrossCLRLoss()(v, t, feat, feat)
    _one_line(excinfo)


def test_a_queue_first_filled_under_inference_mode_keeps_training():
    loss = CrossCLRLoss(queue_size=8)
    v, t = _pairs()
    with torch.inference_mode():
        loss(v, t, v, t)
    v.requires_grad_(True)
    out = loss(v, t, v.detach(), t)                   # reads the queue with grad, then updates it in place
    out.backward()
    assert v.grad is not None and int(loss.queue.filled) == 8
    assert not loss.queue.video.is_inference()


def test_a_queue_state_of_another_size_is_refused():
    small = CrossCLRLoss(queue_size=4)
    v, t = _pairs()
    small(v, t, v, t)
    with pytest.raises(ValueError, match="queue state has 4 slots, this loss's queue has 8") as excinfo:
        CrossCLRLoss(queue_size=8).load_state_dict(small.state_dict())
    _one_line(excinfo)
    same = CrossCLRLoss(queue_size=4)
    same.load_state_dict(small.state_dict())          # the same size still loads
    assert torch.equal(same.queue.video, small.queue.video)


def test_query_and_gallery_of_different_sizes_are_refused():
    v, t = _pairs()
    with pytest.raises(ValueError, match="same shape") as excinfo:
        retrieval_ranks(v, t[:5])
    _one_line(excinfo)


@pytest.mark.parametrize("chunk", [0, -1, 1.5, True])
def test_a_chunk_size_below_one_is_refused(chunk):
    v, t = _pairs()
    with pytest.raises(ValueError, match="chunk_size must be an int >= 1"):
        retrieval_ranks(v, t, chunk_size=chunk)
    assert torch.equal(retrieval_ranks(v, t, chunk_size=3), retrieval_ranks(v, t))


def test_negative_queue_rows_are_refused():
    data = make_synthetic(split="train", n_concepts=3, pairs_per_concept=8, video_dim=6, text_dim=5, frames=2)
    model = build_model(data, embed_dim=8, hidden_dim=8)
    with pytest.raises(ValueError, match="queue_rows must be an int >= 0"):
        explorer_batch(model, data, batch_size=8, queue_rows=-5)


def test_resume_from_a_checkpoint_without_optimizer_state_is_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", *TRAIN_ARGS, "--epochs", "1", "--out", out]
    assert run_cli(argv, capsys)[0] == 0
    state = load_checkpoint(out / "checkpoint.pt")
    del state["optimizer"]
    save_checkpoint(state, out / "checkpoint.pt")     # checksum-valid, but not a trainer's whole state
    code, _, err = run_cli(["train", *TRAIN_ARGS, "--epochs", "2", "--resume", "--out", out], capsys)
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert "lacks the state a resume needs (optimizer)" in err


def test_a_youcook2_text_cache_dir_that_is_a_file_is_refused_up_front(tmp_path):
    from crossclr_lab.data.youcook2 import load_youcook2

    file = tmp_path / "cache"
    file.write_text("")
    with pytest.raises(ValueError, match="cache_dir .* is a file, not a folder"):
        load_youcook2(tmp_path, "train", cache_dir=file)     # before looking for the (absent) data
