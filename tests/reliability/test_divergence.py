"""Issue 12, item 4: a diverged model is a failure (clear message, exit 1), and huge finite embeddings still give
correct losses and metrics."""

import pytest
import torch
import torch.nn.functional as F
from fixtures.tiny_runs import TRAIN_ARGS, run_cli, tiny_config, tiny_splits

from crossclr_lab.losses import LOSSES, build_loss
from crossclr_lab.metrics import retrieval_metrics
from crossclr_lab.training.trainer import Trainer, TrainingDiverged, check_embeddings

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("loss", ["crossclr", "infonce"])
def test_a_huge_learning_rate_stops_training_with_a_clear_error(tmp_path, loss):
    config = tiny_config(loss=loss, loss_kwargs={"temperature": 0.1}, lr=1e6, epochs=3)
    trainer = Trainer(config, *tiny_splits(), out_dir=tmp_path)
    with pytest.raises(TrainingDiverged, match="training diverged; start again with a lower lr") as err:
        trainer.fit()
    assert trainer.step < 3   # stopped within the first epoch, not after reporting a result
    assert "exploded" in str(err.value) or "NaN" in str(err.value)
    assert not (tmp_path / "record.json").exists()


def test_cli_exits_1_when_training_diverges(tmp_path, capsys):
    code, out, err = run_cli(["train", *TRAIN_ARGS, "--lr", "1e6", "--epochs", "2", "--out", tmp_path], capsys)
    assert code == 1 and "training diverged" in err and len(err.strip().splitlines()) == 1
    assert "test:" not in out


def test_collapse_and_non_finite_embeddings_are_detected():
    good = torch.randn(8, 4)
    check_embeddings(good, good.clone())
    collapsed = torch.randn(1, 4).expand(8, 4) * torch.arange(1.0, 9.0)[:, None]   # one direction, any lengths
    with pytest.raises(TrainingDiverged, match="all 8 video embeddings .* point the same way"):
        check_embeddings(collapsed, good, step=5)
    # identical inputs legitimately give identical embeddings: not a collapse of the model
    check_embeddings(collapsed, good, batch={"video_pooled": torch.ones(8, 3), "text_pooled": torch.randn(8, 3)})
    nan = good.clone()
    nan[3, 1] = float("nan")
    with pytest.raises(TrainingDiverged, match="text embeddings hold NaN or Inf at step 2"):
        check_embeddings(good, nan, step=2)
    for scale in (1e13, 1e20):   # far beyond any healthy model; from ~1e18 on the norms would overflow float32
        with pytest.raises(TrainingDiverged, match="video embeddings exploded at step 0"):
            check_embeddings(good * scale, good)


@pytest.mark.parametrize("name", list(LOSSES))
def test_losses_are_exact_for_embeddings_scaled_by_1e19(name):
    g = torch.Generator().manual_seed(0)
    video, text = torch.randn(12, 32, generator=g), torch.randn(12, 32, generator=g)
    feats = torch.randn(12, 16, generator=g), torch.randn(12, 16, generator=g)
    loss_fn = build_loss(name)
    reference = loss_fn(video, text, *feats)
    for scale in (1e19, 1e-19):
        torch.testing.assert_close(loss_fn(video * scale, text * scale, *feats), reference, rtol=1e-5, atol=1e-6)
    # the gradient is that of F.normalize (the scale is detached)
    v = video.clone().requires_grad_()
    loss_fn(v, text, *feats).backward()
    v_ref = video.clone().requires_grad_()
    loss_fn.compute(F.normalize(v_ref, dim=1), F.normalize(text, dim=1), *feats, loss_fn.temperature,
                    slice(0, len(video))).loss.backward()
    torch.testing.assert_close(v.grad, v_ref.grad)


def test_metrics_are_exact_for_embeddings_scaled_by_1e20():
    g = torch.Generator().manual_seed(1)
    video, text = torch.randn(50, 16, generator=g), torch.randn(50, 16, generator=g)
    text = video + 0.8 * text   # some signal: R@1 well above chance
    groups = [i % 5 for i in range(50)]
    reference = retrieval_metrics(video, text, groups)
    assert reference["t2v_r1"] > 20
    assert retrieval_metrics(video * 1e20, text * 1e20, groups) == reference
    assert retrieval_metrics(video * 1e-20, text * 1e20, groups) == reference
