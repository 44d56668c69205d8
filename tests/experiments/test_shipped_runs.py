"""Notebooks 03's and 08's shipped runs: found by exactly the notebooks' defaults, what training gives, read without
training, never used when damaged, stale or malformed, and never over a model trained here."""

import gzip
import json
import shutil
from dataclasses import replace

import pytest
import torch

from crossclr_lab import notebooks
from crossclr_lab.data import load_splits
from crossclr_lab.data.provenance import fingerprint
from crossclr_lab.data.spec import EVAL_SPLITS
from crossclr_lab.data.view_pairs import load_view_pair
from crossclr_lab.experiments import shipped_runs
from crossclr_lab.experiments.comparison import Variant, _shipped_runs, as_variants, run_comparison, run_keys
from crossclr_lab.files import write_manifest
from crossclr_lab.lab import input_features
from crossclr_lab.lab.training import NOTEBOOK_KAPPAS, NOTEBOOK_LOSSES, NOTEBOOK_SEEDS, notebook_comparisons
from crossclr_lab.training import pretrained
from crossclr_lab.training.model_cache import cache_path

STALE = "shipped runs stale for the data or the notebooks' defaults: python -m tools.build_pretrained --runs-only"


@pytest.fixture(scope="module")
def splits():
    return load_splits("emoji_motion")


@pytest.fixture(scope="module")
def prints(splits):
    return dict(zip(("train", "val", "test"), map(fingerprint, splits)))


def _config(splits):
    return pretrained.notebook_config(group=splits[2].default_group())


def test_notebook_03_defaults_are_the_shipped_ones():
    nb = next(n for n in notebooks.discover() if n.number == "03")
    defaults = notebooks.parameter_defaults(nb)
    assert defaults["losses"] == list(NOTEBOOK_LOSSES) and defaults["seeds"] == list(NOTEBOOK_SEEDS)
    assert defaults["try_kappas"] == list(NOTEBOOK_KAPPAS) and defaults["ablation"] is True
    assert defaults["epochs"] == pretrained.EPOCHS and defaults["batch_size"] == 64
    assert defaults["train_here"] is False and defaults["cache"] is True


def test_notebook_08_defaults_are_the_shipped_ones():
    nb = next(n for n in notebooks.discover() if n.number == "08")
    defaults = notebooks.parameter_defaults(nb)
    assert defaults["split_kind"] == input_features.NOTEBOOK_SPLIT
    assert defaults["seeds"] == list(input_features.NOTEBOOK_SEEDS)
    assert defaults["pairs"] == [list(p) for p in input_features.NOTEBOOK_PAIRS]
    assert defaults["pair_seeds"] == list(input_features.NOTEBOOK_PAIR_SEEDS)
    assert (defaults["epochs"], defaults["batch_size"]) == (input_features.NOTEBOOK_EPOCHS,
                                                            input_features.NOTEBOOK_BATCH)
    assert defaults["train_here"] is False


def _notebook_08_keys() -> set[str]:
    """The run keys of notebook 08's default runs: three feature sets, then the view pairs, CrossCLR and InfoNCE."""
    config, kind = input_features.notebook_config(), input_features.NOTEBOOK_SPLIT
    comparisons = [(s, input_features.NOTEBOOK_SEEDS) for s in input_features.load_feature_sets(kind).values()]
    comparisons += [(tuple(load_view_pair(pair, split, split_kind=kind) for split in EVAL_SPLITS),
                     input_features.NOTEBOOK_PAIR_SEEDS) for pair in input_features.NOTEBOOK_PAIRS]
    keys = set()
    for splits, seeds in comparisons:
        prints = dict(zip(("train", "val", "test"), map(fingerprint, splits)))
        group = splits[2].default_group()
        keys |= {run_keys(config, Variant(loss, loss), seed, group, min(50, len(splits[2])), prints)[1]
                 for loss in ("crossclr", "infonce") for seed in seeds}
    return keys


def test_every_run_of_the_defaults_is_shipped_and_nothing_else(splits, prints):
    entries = shipped_runs.load_shipped_runs("emoji_motion")
    config, group = _config(splits), splits[2].default_group()
    wanted_03 = {run_keys(config, v, seed, group, 50, prints)[1]
                 for variants, _ in notebook_comparisons().values() for v in variants for seed in NOTEBOOK_SEEDS}
    assert len(wanted_03) == 24                  # the ablation's full CrossCLR and InfoNCE rows are the comparison's
    wanted_08 = _notebook_08_keys()
    assert len(wanted_08) == 48                  # 3 feature sets x 5 seeds + 3 view pairs x 3 seeds, x 2 losses
    assert wanted_03 | wanted_08 <= set(entries), STALE
    assert set(entries) == wanted_03 | wanted_08
    for key, entry in entries.items():
        epochs = pretrained.EPOCHS if key in wanted_03 else input_features.NOTEBOOK_EPOCHS
        assert entry["epochs_run"] == epochs and len(entry["recall_curves"]["t2v"]) == 50


@pytest.mark.slow
def test_a_shipped_run_is_what_training_gives(splits, tmp_path, one_thread):
    config = _config(splits)
    variant = as_variants(["infonce"])[0]
    trained = run_comparison([variant], [1], splits, config, group=config.group, cache_dir=tmp_path,
                             use_shipped=False, log=lambda *_: None, progress=False)["variants"]["infonce"]["runs"][0]
    assert trained["origin"] == "trained"
    shipped = run_comparison([variant], [1], splits, config, group=config.group, cache_dir=tmp_path / "empty",
                             log=lambda *_: None, progress=False)["variants"]["infonce"]["runs"][0]
    assert shipped["origin"] == "shipped results"
    # bit for bit on the machine that built them; another CPU may round a matmul differently
    torch.testing.assert_close(torch.tensor(shipped["step_losses"][:23]), torch.tensor(trained["step_losses"][:23]),
                               rtol=1e-4, atol=1e-6)
    for metric in ("t2v_r1", "v2t_r1", "t2v_r10"):
        assert abs(shipped["test"][metric] - trained["test"][metric]) <= 1.0, metric
    assert shipped["best_epoch"] in range(trained["best_epoch"] - 1, trained["best_epoch"] + 2)


def test_shipped_results_are_read_without_training(splits, tmp_path):
    config = _config(splits)
    results = run_comparison(as_variants(["crossclr", "max_margin"]), [0, 2], splits, config, group=config.group,
                             cache_dir=tmp_path, log=lambda *_: None, progress=False)
    runs = [r for v in results["variants"].values() for r in v["runs"]]
    assert [r["origin"] for r in runs] == ["shipped results"] * 4 and [r["seed"] for r in runs] == [0, 2] * 2
    assert not any(tmp_path.iterdir())           # nothing trained, nothing cached
    assert "max_margin" in results["summary"]


def test_a_view_pairs_shipped_results_are_read_from_its_base_datasets_file(tmp_path):
    pair = input_features.NOTEBOOK_PAIRS[-1]
    results = input_features.compare_pairs([pair], [0], input_features.notebook_config(), log=lambda *_: None,
                                           cache_dir=tmp_path)[" ↔ ".join(pair)]
    assert results["dataset"].startswith("emoji_motion:")
    assert [r["origin"] for v in results["variants"].values() for r in v["runs"]] == ["shipped results"] * 2
    assert not any(tmp_path.iterdir())           # nothing trained, nothing cached


def test_other_settings_or_a_model_trained_here_are_not_taken_from_the_file(splits, prints, tmp_path):
    config, group = _config(splits), splits[2].default_group()
    tasks = [(0, v) for v in as_variants(["crossclr", "infonce"])]
    assert sorted(_shipped_runs(tasks, splits, config, group, 50, tmp_path, prints)) == [0, 1]
    assert _shipped_runs(tasks, splits, replace(config, epochs=11), group, 50, tmp_path, prints) == {}
    assert _shipped_runs(tasks, splits, config, group, 20, tmp_path, prints) == {}      # other curve length
    here = cache_path(replace(config, loss="infonce", seed=0), splits[0], splits[1], tmp_path)
    here.parent.mkdir(parents=True)
    here.write_bytes(b"a model trained here")    # exists: the run loads (and checks) it instead
    assert sorted(_shipped_runs(tasks, splits, config, group, 50, tmp_path, prints)) == [0]


def _copy(tmp_path):
    root = tmp_path / "shipped"
    shutil.copytree(pretrained.SHIPPED_DIR, root)
    return root, root / shipped_runs.runs_file("emoji_motion")


def _rewrite(root, path, content):
    path.write_bytes(gzip.compress(json.dumps(content).encode()))
    listed = [line.split("  ", 1)[1] for line in (root / pretrained.MANIFEST).read_text().splitlines()]
    write_manifest(root, listed)


def test_a_damaged_unlisted_stale_or_malformed_file_is_not_used(tmp_path):
    root, path = _copy(tmp_path)
    assert len(shipped_runs.load_shipped_runs("emoji_motion", root)) == 72
    good = json.loads(gzip.decompress(path.read_bytes()))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="damaged"):
        assert shipped_runs.load_shipped_runs("emoji_motion", root) == {}
    for content, why in (({**good, "code": good["code"] - 1}, "stale .*code version"),
                         ({**good, "format": 1}, "stale .*cache format"),
                         ({**good, "runs": {"k": {"seed": 0}}}, "damaged .*lacks run fields"),
                         ([1, 2], "damaged .*not a runs file")):
        _rewrite(root, path, content)
        with pytest.warns(UserWarning, match=why):
            assert shipped_runs.load_shipped_runs("emoji_motion", root) == {}
    listed = [line.split("  ", 1)[1] for line in (root / pretrained.MANIFEST).read_text().splitlines()]
    for unreadable, why in ((gzip.compress(b"{not json"), "JSONDecodeError"), (b"{not gzip", "BadGzipFile"),
                            (gzip.compress(json.dumps(good).encode())[:-20], "EOFError")):   # cut short
        path.write_bytes(unreadable)
        write_manifest(root, listed)
        with pytest.warns(UserWarning, match=f"unreadable \\({why}\\)"):
            assert shipped_runs.load_shipped_runs("emoji_motion", root) == {}
    write_manifest(root, [r for r in listed if not r.endswith(shipped_runs.FILE)])
    with pytest.warns(UserWarning, match="not in MANIFEST"):
        assert shipped_runs.load_shipped_runs("emoji_motion", root) == {}
    assert shipped_runs.load_shipped_runs("synthetic", root) == {}     # none shipped: no warning


def test_writing_refuses_entries_without_run_fields(tmp_path):
    with pytest.raises(ValueError, match="lack"):
        shipped_runs.write_shipped_runs({"k": {"seed": 0}}, tmp_path / shipped_runs.FILE)
    assert not (tmp_path / shipped_runs.FILE).exists()


def test_the_same_entries_give_the_same_bytes(tmp_path):
    entries = shipped_runs.load_shipped_runs("emoji_motion")
    one = shipped_runs.write_shipped_runs(entries, tmp_path / "one" / shipped_runs.FILE).read_bytes()
    two = shipped_runs.write_shipped_runs(entries, tmp_path / "two" / shipped_runs.FILE).read_bytes()
    assert one == two == (pretrained.SHIPPED_DIR / shipped_runs.runs_file("emoji_motion")).read_bytes()
