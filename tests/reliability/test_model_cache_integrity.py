"""Issue 23, items 1-2: a damaged, hand-edited, stale or foreign model cache entry is never used (one-line warning,
retrained), and no name takes a cache path out of its folder."""

import shutil
import warnings

import pytest
import torch
from fixtures.tiny_runs import flip_bytes

from crossclr_lab.data import make_synthetic
from crossclr_lab.data.folder import export_folder, read_card
from crossclr_lab.experiments.comparison import Variant, run_comparison
from crossclr_lab.training import model_cache
from crossclr_lab.training.checkpoint import load_checkpoint, save_checkpoint
from crossclr_lab.training.model_cache import cache_path, fit_cached
from crossclr_lab.training.trainer import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")
KW = {"n_concepts": 4, "pairs_per_concept": 12, "video_dim": 6, "text_dim": 5, "frames": 2}


@pytest.fixture(scope="module")
def data():
    return make_synthetic(split="train", **KW), make_synthetic(split="val", **KW)


def _config(**kwargs):
    return TrainConfig(**{"loss": "infonce", "epochs": 2, "batch_size": 8, "warmup_epochs": 0, "progress": False,
                          **kwargs})


@pytest.fixture
def cached(data, tmp_path):
    """A cache with one entry: ``(path, the weights it holds)``."""
    model, record = fit_cached(_config(), *data, tmp_path)
    assert record["cached"] is False
    return cache_path(_config(), *data, tmp_path), {k: v.clone() for k, v in model.state_dict().items()}


def _refit_warns(data, cache_dir, match):
    """Fit again: the entry must be refused with one warning line matching ``match`` and the model retrained."""
    with pytest.warns(UserWarning, match=match) as caught:
        _, record = fit_cached(_config(), *data, cache_dir)
    assert record["cached"] is False
    assert all(len(str(w.message).splitlines()) == 1 for w in caught)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # the retrained entry replaced the bad one: loaded silently now
        assert fit_cached(_config(), *data, cache_dir)[1]["cached"] == "cache"


def test_flipped_bytes_inside_a_cached_weight_are_not_loaded(data, cached, tmp_path):
    path, weights = cached
    raw = path.read_bytes()
    target = weights["video_encoder.net.1.weight"]
    where = raw.find(target.numpy().tobytes()[:64])       # inside that weight tensor's bytes
    assert where > 0
    flip_bytes(path, where + 8, 8)
    _refit_warns(data, tmp_path, "damaged")


def test_weights_edited_by_hand_are_not_used(data, cached, tmp_path):
    path, _ = cached
    entry = load_checkpoint(path)
    entry["model"] = {k: v * 0.5 for k, v in entry["model"].items()}
    torch.save(entry, path)                              # edited and saved without the sha256
    _refit_warns(data, tmp_path, "not a checksummed")


def test_an_entry_written_by_older_code_is_stale(data, cached, tmp_path, monkeypatch):
    path, _ = cached
    entry = load_checkpoint(path)
    save_checkpoint({**entry, "code": model_cache.CODE_VERSION - 1}, path)
    _refit_warns(data, tmp_path, "stale .*code version")


def test_an_entry_of_an_older_cache_format_is_stale(data, cached, tmp_path):
    path, _ = cached
    entry = load_checkpoint(path)
    save_checkpoint({**entry, "format": model_cache.CACHE_FORMAT - 1}, path)
    _refit_warns(data, tmp_path, "stale .*cache format")


def test_an_entry_of_another_run_under_this_name_is_foreign(data, tmp_path):
    other = _config(seed=1)
    fit_cached(other, *data, tmp_path)
    target = cache_path(_config(), *data, tmp_path)
    shutil.copy(cache_path(other, *data, tmp_path), target)
    _refit_warns(data, tmp_path, "foreign")


def test_a_dataset_name_cannot_escape_the_cache_folder(data, tmp_path):
    train, val = data
    train.name = "../../../escaped"
    with pytest.raises(ValueError, match="dataset name '../../../escaped' cannot be used in a file path"):
        fit_cached(_config(), train, val, tmp_path / "a" / "b" / "cache")
    assert not (tmp_path / "escaped").exists() and not any(tmp_path.rglob("*.pt"))


def test_a_folder_dataset_card_name_that_is_a_path_is_refused(data, tmp_path):
    root = export_folder({"train": data[0]}, tmp_path / "ds", licence="CC0", name="plain")
    for name in ("../../../escaped", "a/b", "..", ""):
        card = (root / "dataset.json").read_text().replace('"name": "plain"', f'"name": "{name}"')
        (root / "dataset.json").write_text(card)
        with pytest.raises(ValueError, match="name"):
            read_card(root)
        (root / "dataset.json").write_text(card.replace(f'"name": "{name}"', '"name": "plain"'))


@pytest.mark.parametrize("name", ["../up", "a/b", ".."])
def test_a_run_or_variant_name_cannot_escape_the_output_folder(data, tmp_path, name):
    cfg = _config(epochs=1)
    if name == "..":   # variant names are slugged into one component; one that slugs to nothing is refused
        with pytest.raises(ValueError, match="cannot be used in a file path"):
            run_comparison([Variant(name, "infonce")], [0], (*data, data[1]), cfg, out_dir=tmp_path / "out",
                           cache_dir=None, log=lambda line: None)
    else:
        with pytest.raises(ValueError, match="loss"):
            cache_path(_config(loss=name), *data, tmp_path)
    assert not any(p for p in tmp_path.parent.iterdir() if p.name in ("up", "b"))


def test_a_cache_dir_that_is_a_file_is_refused_in_one_line(data, tmp_path):
    file = tmp_path / "cache"
    file.write_text("")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        fit_cached(_config(), *data, file)
