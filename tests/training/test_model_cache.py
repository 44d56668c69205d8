"""Train once, reuse: cached models load with the same weights; every setting that changes them changes the key."""

import pytest
import torch

from crossclr_lab.data import make_synthetic
from crossclr_lab.experiments.comparison import Variant, run_comparison, train_models
from crossclr_lab.training.model_cache import CACHE_ENV, cache_key, cache_path, default_cache_dir, fit_cached
from crossclr_lab.training.trainer import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    kwargs = {"n_concepts": 4, "pairs_per_concept": 12, "video_dim": 6, "text_dim": 5, "frames": 2}
    return make_synthetic(split="train", **kwargs), make_synthetic(split="val", **kwargs)


def _config(**kwargs):
    return TrainConfig(**{"loss": "infonce", "epochs": 2, "batch_size": 8, "warmup_epochs": 0, "progress": False,
                          **kwargs})


def test_second_fit_loads_the_same_weights(data, tmp_path):
    train, val = data
    model, record = fit_cached(_config(), train, val, tmp_path)
    assert not record["cached"] and cache_path(_config(), train, val, tmp_path).is_file()
    again, record2 = fit_cached(_config(), train, val, tmp_path)
    assert record2["cached"] and record2["best_epoch"] == record["best_epoch"]
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a.cpu(), b.cpu()), name


def test_key_follows_what_changes_the_weights(data):
    train, val = data
    key = cache_key(_config(), train, val)[0]
    assert cache_key(_config(progress=True, device="cpu"), train, val)[0] == key      # no effect on the weights
    for changed in (_config(seed=1), _config(loss="nt_xent"), _config(epochs=3), _config(lr=1e-3)):
        assert cache_key(changed, train, val)[0] != key
    assert cache_key(_config(), val, val)[0] != key                                   # other training data
    assert cache_key(_config(), train, None)[0] != key                                # no model selection
    spelled = cache_key(_config(loss="crossclr", loss_kwargs={"intra_weight": 0.8}), train, val)[0]
    assert spelled == cache_key(_config(loss="crossclr"), train, val)[0]              # defaults spelled out
    assert spelled != cache_key(_config(loss="crossclr", loss_kwargs={"intra_weight": 0.5}), train, val)[0]


def test_unreadable_entry_is_retrained_with_a_warning(data, tmp_path):
    train, val = data
    path = cache_path(_config(), train, val, tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="cannot be read.*not used, training the model again"):
        _, record = fit_cached(_config(), train, val, tmp_path)
    assert not record["cached"]
    assert fit_cached(_config(), train, val, tmp_path)[1]["cached"]


def test_train_models_and_run_comparison_share_the_cache(data, tmp_path):
    train, val = data
    lines = []
    first = train_models([Variant("InfoNCE", "infonce")], train, val, _config(), cache_dir=tmp_path, log=lines.append)
    results = run_comparison([Variant("infonce", "infonce")], [0], (train, val, val), _config(), cache_dir=tmp_path,
                             log=lines.append)
    assert "cached" in lines[-1] and "loaded from the cache" not in lines[0]
    again = train_models(["infonce"], train, val, _config(), cache_dir=tmp_path, log=lines.append)
    assert "loaded from the cache" in lines[-1]
    assert torch.equal(first["InfoNCE"].state_dict()["video_encoder.net.1.weight"],
                       again["infonce"].state_dict()["video_encoder.net.1.weight"])
    assert results["variants"]["infonce"]["runs"][0]["step_losses"]                  # the record came back whole


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv(CACHE_ENV)
    assert default_cache_dir().parts[-2:] == ("runs", "cache")
