"""The folder dataset format: the docs' example, exact round trips, every validation error, CLI and describe."""

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from crossclr_lab.cli import main as cli_main
from crossclr_lab.data import PairedFeatures, load_dataset
from crossclr_lab.data.folder import check_folder, export_folder, load_folder, load_views
from crossclr_lab.experiments.data_card import describe

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "dataset-format.md"
EMOJI = REPO / "data" / "emoji_motion" / "MANIFEST.sha256"
needs_emoji = pytest.mark.skipif(not EMOJI.is_file(), reason="Emoji Motion data (data/emoji_motion) not built")
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def restore_threads():
    threads = torch.get_num_threads()  # the CLI's --threads sets the process-wide value
    yield
    torch.set_num_threads(threads)


def docs_example(cwd: Path) -> Path:
    """Run the docs' "written by hand" snippet in ``cwd``; returns the folder it writes."""
    text = DOCS.read_text(encoding="utf-8").split("## Example: a folder written by hand", 1)[1]
    snippet = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    exec(compile(snippet, str(DOCS), "exec"), {"__name__": "docs_example", "Path": Path})
    return cwd / "my_features"


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("docs")
    old = Path.cwd()
    os.chdir(cwd)  # the snippet writes "my_features" into the working directory, as a user's would
    try:
        return docs_example(cwd)
    finally:
        os.chdir(old)


def small_folder(root: Path, splits=(("train", 6), ("val", 4)), with_motion: bool = True) -> Path:
    """A valid folder of the format with three views (video sequence, text pooled, motion pooled) and a group."""
    rng = np.random.default_rng(1)
    views = {"video": {"layout": "sequence", "dim": 5}, "text": {"layout": "pooled", "dim": 3}}
    if with_motion:
        views["motion"] = {"layout": "pooled", "dim": 2}
    card = {"format_version": 1, "name": "tiny", "licence": "CC0", "views": views, "video_view": "video",
            "text_view": "text", "groups": ["concept"], "splits": dict(splits)}
    root.mkdir(parents=True)
    (root / "dataset.json").write_text(json.dumps(card))
    for split, n in splits:
        (root / split).mkdir()
        lengths = np.array([1 + i % 4 for i in range(n)])
        video = rng.standard_normal((n, 4, 5)).astype(np.float32)
        video[np.arange(4)[None, :] >= lengths[:, None]] = 0
        np.save(root / split / "video.npy", video)
        np.save(root / split / "video_lengths.npy", lengths)
        np.save(root / split / "text.npy", rng.standard_normal((n, 3)).astype(np.float32))
        if with_motion:
            np.save(root / split / "motion.npy", rng.standard_normal((n, 2)).astype(np.float16))
        items = {"ids": [f"{split}-{i}" for i in range(n)], "captions": [f"item {i}" for i in range(n)],
                 "groups": {"concept": [i % 3 for i in range(n)]}}
        (root / split / "items.json").write_text(json.dumps(items))
    return root


def assert_same(a: PairedFeatures, b: PairedFeatures) -> None:
    for key in ("video", "video_lengths", "text", "text_lengths", "video_pooled", "text_pooled"):
        x, y = getattr(a, key), getattr(b, key)
        assert (x is None) == (y is None), key
        if x is not None:
            assert x.dtype == y.dtype and torch.equal(x, y), key
    assert (a.ids, a.captions, a.groups, a.name) == (b.ids, b.captions, b.groups, b.name)


# -- the documented example and loading ------------------------------------------------------------------------
def test_docs_example_is_a_valid_folder(example):
    card = check_folder(example)
    assert list(card["splits"]) == ["train", "val", "test"]
    train = load_dataset("folder", "train", data_root=example)
    assert train.name == "my_features" and train.video.shape == (120, 16, 512) and train.text.shape == (120, 384)
    assert train.video.dtype == torch.float32 and train.groups["recipe"][:2] == ["recipe-0", "recipe-1"]
    lengths = np.load(example / "train" / "video_lengths.npy")
    assert torch.equal(train.video_lengths, torch.from_numpy(lengths))


def test_any_two_views_pair_up(tmp_path):
    root = small_folder(tmp_path / "f")
    views = load_views(root, "train")
    assert list(views) == ["video", "text", "motion"] and views["motion"].features.dtype == torch.float32
    assert torch.equal(views["motion"].features, torch.from_numpy(np.load(root / "train" / "motion.npy")).float())
    pair = load_folder(root, "val", video_view="motion", text_view="video")
    assert pair.video.shape == (4, 1, 2) and pair.video_lengths.tolist() == [1, 1, 1, 1]  # pooled -> one step
    assert pair.text.shape == (4, 4, 5) and pair.text_lengths.tolist() == [1, 2, 3, 4]  # sequence -> tokens
    assert torch.allclose(pair.text_pooled[3], pair.text[3].mean(0))
    with pytest.raises(ValueError, match="has no view 'audio'; its views are video, text, motion"):
        load_folder(root, "train", video_view="audio")
    with pytest.raises(ValueError, match="both 'text'"):
        load_folder(root, "train", video_view="text")


def test_registry_errors_name_the_splits_and_the_missing_root(tmp_path):
    root = small_folder(tmp_path / "f")
    with pytest.raises(ValueError, match="has splits train, val; got split='test'"):
        load_dataset("folder", "test", data_root=root)
    with pytest.raises(ValueError, match="folder needs data_root"):
        load_dataset("folder", "train")
    with pytest.raises(FileNotFoundError, match="has no dataset.json"):
        load_dataset("folder", "train", data_root=tmp_path)


def test_loaded_tensors_are_copy_on_write_maps_of_the_files(tmp_path):
    root = small_folder(tmp_path / "f")
    data = load_folder(root, "train")
    before = (root / "train" / "text.npy").read_bytes()
    data.text.add_(1.0)  # writable, but never written back to the file
    assert (root / "train" / "text.npy").read_bytes() == before
    assert torch.equal(load_folder(root, "train").text, torch.from_numpy(np.load(root / "train" / "text.npy")))


def test_a_file_changed_after_loading_is_validated_again(tmp_path):
    root = small_folder(tmp_path / "f")
    load_folder(root, "train")
    text = np.load(root / "train" / "text.npy")
    text[2, 1] = np.nan
    np.save(root / "train" / "text.npy", text)
    with pytest.raises(ValueError, match="item 2 .id 'train-2'. has nan at index"):
        load_folder(root, "train")


# -- round trips -----------------------------------------------------------------------------------------------
def test_round_trip_with_token_text_and_int_groups(tmp_path):
    rng = torch.Generator().manual_seed(0)
    splits = {}
    for split, n in (("train", 7), ("test", 3)):
        lengths, text_lengths = torch.randint(1, 6, (n,), generator=rng), torch.randint(1, 4, (n,), generator=rng)
        video = torch.randn(n, 5, 4, generator=rng) * (torch.arange(5)[None, :, None] < lengths[:, None, None])
        text = torch.randn(n, 3, 2, generator=rng) * (torch.arange(3)[None, :, None] < text_lengths[:, None, None])
        splits[split] = PairedFeatures(video=video, video_lengths=lengths, text=text, text_lengths=text_lengths,
                                       captions=[f"c{i}" for i in range(n)], ids=[f"{split}{i}" for i in range(n)],
                                       groups={"g": list(range(n)), "h": ["x"] * n}, name="toy")
    root = export_folder(splits, tmp_path / "toy", licence="CC0")
    assert json.loads((root / "dataset.json").read_text())["views"]["text"]["layout"] == "sequence"
    for split, original in splits.items():
        assert_same(load_folder(root, split), original)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left behind


@needs_emoji
def test_emoji_motion_round_trip_is_exact(tmp_path):
    splits = {s: load_dataset("emoji_motion", s) for s in ("train", "val", "test")}
    root = export_folder(splits, tmp_path / "emoji", licence="MIT; see data/emoji_motion/LICENSES")
    for split, original in splits.items():
        assert_same(load_dataset("folder", split, data_root=root), original)


@needs_emoji
@pytest.mark.slow
def test_compare_on_exported_emoji_motion_equals_compare_on_emoji_motion(tmp_path, capsys):
    from crossclr_lab.experiments.report import format_table

    splits = {s: load_dataset("emoji_motion", s) for s in ("train", "val", "test")}
    root = export_folder(splits, tmp_path / "emoji", licence="MIT; see data/emoji_motion/LICENSES")
    tables = []
    for args in (["--dataset", "emoji_motion"], ["--dataset", "folder", "--data-root", str(root)]):
        out = tmp_path / args[1]
        assert cli_main(["compare", *args, "--seeds", "1", "--epochs", "1", "--threads", "1", "--out", str(out)]) == 0
        results = json.loads((out / "results.json").read_text())
        tables.append((format_table(results), [r["test"] for r in results["variants"]["crossclr"]["runs"]]))
    assert tables[0] == tables[1]
    assert capsys.readouterr().out.count(tables[0][0]) == 2  # the printed tables too


def test_export_refuses_to_replace_and_stays_atomic(tmp_path):
    data = load_dataset("synthetic", "val", n_concepts=2, pairs_per_concept=3)
    root = export_folder({"train": data.subset([0, 1, 2, 3]), "val": data.subset([4, 5])}, tmp_path / "d", licence="x")
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        export_folder({"train": data}, root, licence="x")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="refusing to replace .* not a folder dataset"):
        export_folder({"train": data}, tmp_path / "other", licence="x", overwrite=True)
    leak = {"train": data.subset([0, 1, 2, 3]), "val": data.subset([3, 4])}  # item 3 in both splits
    with pytest.raises(ValueError, match=f"{re.escape(str(root))}: id '.*' is in split 'train'"):
        export_folder(leak, root, licence="x", overwrite=True)
    assert check_folder(root)["splits"] == {"train": 4, "val": 2}  # the earlier export is untouched
    export_folder({"all": data}, root, licence="x", overwrite=True)
    assert check_folder(root)["splits"] == {"all": 6}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "other"]


def test_export_rejects_pooled_features_it_cannot_store(tmp_path):
    data = load_dataset("synthetic", "val", n_concepts=2, pairs_per_concept=3)
    data.video_pooled = data.video_pooled + 1.0
    with pytest.raises(ValueError, match="video_pooled is not the mean of its frames"):
        export_folder({"train": data}, tmp_path / "d", licence="x")


# -- validation: every error names the file and the entry ------------------------------------------------------
def _card(root: Path, **changes) -> None:
    card = json.loads((root / "dataset.json").read_text())
    card.update(changes)
    (root / "dataset.json").write_text(json.dumps(card))


def _strip(root: Path, key: str) -> None:
    card = json.loads((root / "dataset.json").read_text())
    del card[key]
    (root / "dataset.json").write_text(json.dumps(card))


def _items(root: Path, split: str, edit) -> None:
    items = json.loads((root / split / "items.json").read_text())
    edit(items)
    (root / split / "items.json").write_text(json.dumps(items))


def _array(root: Path, name: str, edit) -> None:
    arr = np.load(root / name)
    np.save(root / name, edit(arr))


def _set(arr, index, value):
    arr[index] = value
    return arr


CASES = {
    "card not JSON": (lambda r: (r / "dataset.json").write_text("{"), ValueError, "dataset.json: not valid JSON"),
    "card missing licence": (lambda r: _strip(r, "licence"), ValueError, "missing keys ['licence']"),
    "card typo key": (lambda r: _card(r, license="MIT"), ValueError, "unknown keys ['license']"),
    "card newer format": (lambda r: _card(r, format_version=2), ValueError,
                          "format_version 2; this crossclr_lab reads 1"),
    "card dim disagrees": (lambda r: _card(r, views={"video": {"layout": "sequence", "dim": 6},
                                                     "text": {"layout": "pooled", "dim": 3}}),
                           ValueError,
                           "train/video.npy: feature size 5, but dataset.json says views['video']['dim'] = 6"),
    "card layout disagrees": (lambda r: _card(r, views={"video": {"layout": "pooled", "dim": 5},
                                                        "text": {"layout": "pooled", "dim": 3}}),
                              ValueError, "train/video.npy: shape [6, 4, 5], but dataset.json says view 'video' is "
                                          "'pooled'"),
    "card count disagrees": (lambda r: _card(r, splits={"train": 7, "val": 4}), ValueError,
                             "train/items.json: 'ids' must list the split's 7 items"),
    "card bad layout": (lambda r: _card(r, views={"video": {"layout": "frames", "dim": 5},
                                                  "text": {"layout": "pooled", "dim": 3}}),
                        ValueError, "views['video']['layout'] must be one of ['pooled', 'sequence']"),
    "card unknown default view": (lambda r: _card(r, text_view="caption"), ValueError,
                                  "text_view 'caption' is not one of the views"),
    "card same view twice": (lambda r: _card(r, text_view="video"), ValueError, "video_view and text_view are both"),
    "card bad split count": (lambda r: _card(r, splits={"train": 0}), ValueError, "splits['train'] must be"),
    "missing items": (lambda r: (r / "val" / "items.json").unlink(), FileNotFoundError, "val/items.json is missing"),
    "missing view": (lambda r: (r / "val" / "text.npy").unlink(), FileNotFoundError, "val/text.npy is missing"),
    "missing lengths": (lambda r: (r / "train" / "video_lengths.npy").unlink(), FileNotFoundError,
                        "train/video_lengths.npy is missing"),
    "not an npy": (lambda r: (r / "train" / "text.npy").write_bytes(b"hello"), ValueError,
                   "train/text.npy: not a readable .npy array"),
    "pickled objects": (lambda r: np.save(r / "train" / "text.npy", np.array([[None] * 3] * 6), allow_pickle=True),
                        ValueError, "train/text.npy: not a readable .npy array"),
    "integer features": (lambda r: _array(r, "train/text.npy", lambda a: a.astype(np.int32)), ValueError,
                         "train/text.npy: dtype int32; view arrays are float16, float32 or float64"),
    "length too long": (lambda r: _array(r, "train/video_lengths.npy", lambda a: _set(a, 3, 5)), ValueError,
                        "train/video_lengths.npy: entry 3 (id 'train-3') is 5; lengths are 1..4"),
    "length zero": (lambda r: _array(r, "val/video_lengths.npy", lambda a: _set(a, 0, 0)), ValueError,
                    "val/video_lengths.npy: entry 0 (id 'val-0') is 0"),
    "lengths wrong shape": (lambda r: _array(r, "train/video_lengths.npy", lambda a: a[:5]), ValueError,
                            "train/video_lengths.npy: dtype int64, shape [5]; expected 6 integers"),
    "lengths as floats": (lambda r: _array(r, "train/video_lengths.npy", lambda a: a.astype(np.float32)), ValueError,
                          "train/video_lengths.npy: dtype float32"),
    "rows disagree": (lambda r: _array(r, "val/text.npy", lambda a: a[:3]), ValueError,
                      "val/text.npy: 3 rows, but dataset.json says the split has 4 items"),
    "NaN in a sequence": (lambda r: _array(r, "train/video.npy", lambda a: _set(a, (4, 0, 2), np.nan)), ValueError,
                          "train/video.npy: item 4 (id 'train-4') has nan at index [4, 0, 2]"),
    "Inf in a pooled view": (lambda r: _array(r, "val/motion.npy", lambda a: _set(a, (1, 1), -np.inf)), ValueError,
                             "val/motion.npy: item 1 (id 'val-1') has -inf at index [1, 1]"),
    "padding not zero": (lambda r: _array(r, "train/video.npy", lambda a: _set(a, (0, 2, 1), 0.5)), ValueError,
                         "train/video.npy: item 0 (id 'train-0') has non-zero features at step 2, past its length 1"),
    "duplicate id": (lambda r: _items(r, "train", lambda d: _set(d["ids"], 3, "train-0")), ValueError,
                     "train/items.json: id 'train-0' appears twice, at entries 0 and 3"),
    "split leak": (lambda r: _items(r, "val", lambda d: _set(d["ids"], 2, "train-5")), ValueError,
                   "id 'train-5' is in split 'train' (train/items.json entry 5) and in split 'val' "
                   "(val/items.json entry 2)"),
    "id not a string": (lambda r: _items(r, "val", lambda d: _set(d["ids"], 1, 7)), ValueError,
                        "val/items.json: ids entry 1 is 7"),
    "caption not a string": (lambda r: _items(r, "val", lambda d: _set(d["captions"], 1, None)), ValueError,
                             "val/items.json: captions entry 1 (id 'val-1') is None"),
    "too few ids": (lambda r: _items(r, "val", lambda d: d["ids"].pop()), ValueError,
                    "val/items.json: 'ids' must list the split's 4 items (dataset.json splits['val']), got 3"),
    "group too short": (lambda r: _items(r, "train", lambda d: d["groups"]["concept"].pop()), ValueError,
                        "train/items.json: groups['concept'] has 5 labels for the split's 6 items"),
    "group undeclared": (lambda r: _items(r, "train", lambda d: d["groups"].update(colour=["red"] * 6)), ValueError,
                         "train/items.json: 'groups' has ['colour', 'concept']; dataset.json declares groups "
                         "['concept']"),
    "group label float": (lambda r: _items(r, "val", lambda d: _set(d["groups"]["concept"], 2, 1.5)), ValueError,
                          "val/items.json: groups['concept'] entry 2 (id 'val-2') is 1.5"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_validation_error_names_file_and_entry(tmp_path, case):
    damage, error, message = CASES[case]
    root = small_folder(tmp_path / "f")
    damage(root)
    with pytest.raises(error, match=re.escape(message)) as info:
        load_folder(root, "train")
    assert str(root) in str(info.value) or str(root.resolve()) in str(info.value)


def test_manifest_catches_a_changed_or_unlisted_file(tmp_path):
    data = load_dataset("synthetic", "val", n_concepts=2, pairs_per_concept=3)
    root = export_folder({"train": data}, tmp_path / "d", licence="x")
    items = json.loads((root / "train" / "items.json").read_text())
    items["captions"][0] = "edited by hand"
    (root / "train" / "items.json").write_text(json.dumps(items))
    with pytest.raises(ValueError, match="train/items.json is damaged or was changed .*MANIFEST.sha256"):
        load_folder(root, "train")
    assert load_folder(root, "train", verify=False).captions[0] == "edited by hand"
    (root / "MANIFEST.sha256").write_text("".join(line for line in (root / "MANIFEST.sha256").read_text().splitlines(
        keepends=True) if "items.json" not in line))
    with pytest.raises(ValueError, match=re.escape("does not list ['train/items.json']")):
        load_folder(root, "train")


# -- the CLI and describe on a folder made by hand -------------------------------------------------------------
def test_cli_compare_and_train_on_the_docs_example(example, tmp_path, capsys):
    code = cli_main(["compare", "--dataset", "folder", "--data-root", str(example), "--losses", "crossclr", "infonce",
                     "--seeds", "1", "--epochs", "1", "--batch-size", "16", "--threads", "1",
                     "--out", str(tmp_path / "cmp")])
    out = capsys.readouterr().out
    assert code == 0 and "on my_features (train 120 pairs; val 30 pairs selects the model; evaluated on test" in out
    results = json.loads((tmp_path / "cmp" / "results.json").read_text())
    assert results["dataset"] == "my_features" and results["n_test"] == 30 and results["group"] == "recipe"

    no_test = tmp_path / "no_test"  # train/val only: evaluated on val, like YouCook2
    small_folder(no_test, with_motion=False)
    assert cli_main(["train", "--dataset", "folder", "--data-root", str(no_test), "--epochs", "1", "--batch-size",
                     "4", "--threads", "1", "--no-progress", "--out", str(tmp_path / "run")]) == 0
    assert "no separate val split: last epoch evaluated" in capsys.readouterr().out
    record = json.loads((tmp_path / "run" / "record.json").read_text())
    assert record["dataset"] == "tiny" and "t2v_r1" in record["val"]


def test_cli_reports_a_broken_folder_in_one_line(tmp_path, capsys):
    root = small_folder(tmp_path / "f")
    _array(root, "val/text.npy", lambda a: _set(a, (0, 0), np.nan))
    with pytest.raises(SystemExit) as info:
        cli_main(["ablate", "--dataset", "folder", "--data-root", str(root), "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1 and "val/text.npy: item 0 (id 'val-0') has nan" in err


def test_describe_prints_every_view_weight_share_and_the_card(tmp_path):
    root = small_folder(tmp_path / "f")
    report = describe("folder", str(root))
    assert "split train:" in report and "split val:" in report and "video: [6, 4, 5]" in report
    share_lines = report.split("connectivity weight share", 1)[1].splitlines()
    assert "random batches of 6; uniform = 1/6 = 0.167" in share_lines[0]
    assert [line.split()[0] for line in share_lines[1:4]] == ["video", "text", "motion"]
    assert "licence: CC0" in report
    assert "views: video (sequence, 5-d), text (pooled, 3-d), motion (pooled, 2-d)" in report


def test_export_folder_writes_extra_views_and_info(tmp_path):
    from crossclr_lab.data.folder import View

    def pair(n, seed):
        g = torch.Generator().manual_seed(seed)
        return PairedFeatures(video=torch.rand(n, 3, 4, generator=g), video_lengths=torch.full((n,), 3),
                              text=torch.rand(n, 5, generator=g), captions=[f"c{i}" for i in range(n)],
                              ids=[f"s{seed}-{i}" for i in range(n)])

    splits = {"train": pair(4, 0), "val": pair(2, 1)}
    extra = {s: {"half": View(f.video[..., :2], f.video_lengths), "clip": View(f.video.mean(1), None)}
             for s, f in splits.items()}
    root = export_folder(splits, tmp_path / "x", licence="CC0", extra_views=extra,
                         view_descriptions={"half": "first two dims"}, info={"made_by": "a test"})
    card = check_folder(root)
    assert card["views"]["half"] == {"layout": "sequence", "dim": 2, "description": "first two dims"}
    assert card["views"]["clip"]["layout"] == "pooled" and card["info"]["made_by"] == "a test"
    views = load_views(root, "val")
    assert torch.equal(views["half"].features, splits["val"].video[..., :2])
    assert torch.equal(views["clip"].features, splits["val"].video.mean(1))
    with pytest.raises(ValueError, match="every split needs the same extra views"):
        export_folder(splits, tmp_path / "y", licence="CC0", extra_views={"train": extra["train"], "val": {}})
    with pytest.raises(ValueError, match="has 4 rows for 2 items"):
        export_folder(splits, tmp_path / "z", licence="CC0",
                      extra_views={"train": extra["train"], "val": extra["train"]})


def test_describe_says_when_pruning_removes_most_of_a_batch(tmp_path):
    root = small_folder(tmp_path / "f", splits=(("train", 64), ("val", 4)))
    report = describe("folder", str(root))       # random normal inputs: connectivities spread, little pruned
    assert "pruned share" in report and "% of a batch" in report and "prunes most of a batch" not in report
    # ReLU-like inputs with nearly equal directions (the issue's case): every C_i / max C > 0.9
    video = np.load(root / "train" / "video.npy")
    lengths = np.load(root / "train" / "video_lengths.npy")
    near = np.abs(1 + 0.01 * np.random.default_rng(0).standard_normal(video.shape)).astype(np.float32)
    near[np.arange(4)[None, :] >= lengths[:, None]] = 0
    np.save(root / "train" / "video.npy", near)
    lines = describe("folder", str(root)).split("connectivity weight share", 1)[1].splitlines()
    video_line = next(i for i, line in enumerate(lines) if line.split()[:1] == ["video"])
    assert "pruned 100.0 % of a batch" in lines[video_line]
    assert "γ prunes most of a batch" in lines[video_line + 1]
    assert not any("prunes most" in line for line in lines if line.split()[:1] in (["text"], ["motion"]))
