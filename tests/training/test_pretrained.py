"""The small checkpoints the kit ships: checksummed, under 5 MB, found by notebooks 04/05's default settings,
and never used when damaged."""

import hashlib
import shutil

import pytest
import torch

from crossclr_lab.data import load_splits
from crossclr_lab.training import pretrained
from crossclr_lab.training.model_cache import cache_path, fit_cached


@pytest.fixture(scope="module")
def splits():
    return load_splits("emoji_motion")


def test_shipped_files_are_small_listed_and_load_with_weights_only():
    files = sorted(pretrained.SHIPPED_DIR.rglob("*.pt"))
    assert len(files) == len(pretrained.LOSSES)
    assert sum(f.stat().st_size for f in files) < 5e6
    manifest = (pretrained.SHIPPED_DIR / pretrained.MANIFEST).read_text().splitlines()
    listed = dict(reversed(line.split("  ")) for line in manifest)
    for f in files:
        rel = f.relative_to(pretrained.SHIPPED_DIR).as_posix()
        assert listed[rel] == hashlib.sha256(f.read_bytes()).hexdigest()
        entry = pretrained.shipped_entry(rel)
        assert all(v.dtype in (torch.float16, torch.int64) for v in entry["model"].values() if torch.is_tensor(v))


@pytest.mark.parametrize("loss", pretrained.LOSSES)
def test_the_notebook_defaults_find_the_shipped_model(loss, splits, tmp_path, one_thread):
    train, val, test = splits
    config = pretrained.notebook_config(group=test.default_group())
    config.loss = loss
    rel = cache_path(config, train, val, tmp_path).relative_to(tmp_path).as_posix()
    stale = "shipped checkpoints stale for the data or the notebooks' defaults: python -m tools.build_pretrained"
    assert (pretrained.SHIPPED_DIR / rel).is_file(), stale
    model, record = fit_cached(config, train, val, tmp_path)      # an empty cache: the shipped model is used
    assert record["cached"] == "shipped" and not any(tmp_path.iterdir())
    state = pretrained.shipped_entry(rel)["model"]
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, state[name].to(value.dtype))


def test_a_damaged_shipped_file_is_not_used(tmp_path, monkeypatch):
    root = tmp_path / "shipped"
    shutil.copytree(pretrained.SHIPPED_DIR, root)
    victim = sorted(root.rglob("*.pt"))[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    rel = victim.relative_to(root).as_posix()
    with pytest.warns(UserWarning, match="damaged"):
        assert pretrained.shipped_entry(rel, root) is None
    (root / pretrained.MANIFEST).write_text("")
    with pytest.warns(UserWarning, match="not in MANIFEST"):
        assert pretrained.shipped_entry(rel, root) is None


@pytest.mark.slow
def test_rebuilding_into_a_new_folder_trains_the_shipped_weights_again(tmp_path, one_thread):
    from tools.build_pretrained import build

    written = build(tmp_path, log=lambda line: None, runs=False)   # the runs: tests/experiments/test_shipped_runs
    assert [p.name for p in written] == [p.name for p in sorted(pretrained.SHIPPED_DIR.rglob("*.pt"))]
    for path in written:
        rel = path.relative_to(tmp_path).as_posix()
        new, shipped = pretrained.shipped_entry(rel, tmp_path), pretrained.shipped_entry(rel)
        assert new["key"] == shipped["key"]
        for name, value in shipped["model"].items():
            torch.testing.assert_close(new["model"][name], value)
    from safetensors.torch import load_file

    for loss in pretrained.LOSSES:   # the plain-weights twin of each entry is rebuilt with it
        new, shipped = (load_file(root / "emoji_motion" / f"{loss}.safetensors")
                        for root in (tmp_path, pretrained.SHIPPED_DIR))
        assert new.keys() == shipped.keys()
        for name, value in shipped.items():
            torch.testing.assert_close(new[name], value)
