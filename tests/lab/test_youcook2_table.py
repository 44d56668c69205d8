"""Notebook 06's companion: the stand-in has COOT's exact layout and loads through the real loader; the settings
are the paper's; our table sits beside the published one and its verdict agrees with it."""

import json

import h5py
import pytest

from crossclr_lab.data import load_splits
from crossclr_lab.data.youcook2 import parse_annotations
from crossclr_lab.experiments.comparison import run_comparison
from crossclr_lab.lab.findings import check_claims
from crossclr_lab.lab.youcook2_table import (
    PAPER_CROSSCLR,
    PAPER_TABLE1,
    missing_files,
    paper_config,
    table1_findings,
    table1_variants,
    table1_verdict,
    write_layout_fixture,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return write_layout_fixture(tmp_path_factory.mktemp("yc2"), n_train=12, n_val=4, clips_per_video=3, n_recipes=3)


def test_stand_in_has_coots_layout_and_loads(root):
    assert missing_files(root) == [] and missing_files(None) and missing_files(root / "nope", text=False)
    videos = parse_annotations(root)
    assert sum(v.split == "train" for v in videos) == 12 and sum(v.split == "val" for v in videos) == 4
    lens = json.loads((root / "text_lens_default.json").read_text())
    with h5py.File(root / "text_default.h5") as text, h5py.File(root / "video_feat_100m.h5") as video:
        for v in videos:
            assert text[v.video_id].shape == (sum(lens[v.video_id]), 1536) and video[v.video_id].shape[1] == 512
            assert len(lens[v.video_id]) == len(v.sentences) == 3
    train, val = load_splits("youcook2", ("train", "val"), data_root=root, text_features="text_default.h5",
                             text_tokens=True)
    assert len(train) == 36 and len(val) == 12 and train.text.dim() == 3 and set(train.groups) == {"recipe", "video"}


def test_settings_are_the_papers():
    variants = {v.name: v for v in table1_variants()}
    assert list(variants) == list(PAPER_TABLE1)
    assert variants["CrossCLR"].loss_kwargs == PAPER_CROSSCLR and variants["CLIP"].loss == "infonce"
    assert table1_variants(["CrossCLR"], queue_size=100)[0].loss_kwargs["queue_size"] == 100
    config = paper_config()
    assert (config.epochs, config.batch_size, config.lr, config.warmup_epochs, config.optimizer) == (
        40, 64, 7e-4, 4.0, "radam")
    with pytest.raises(ValueError, match="unknown Table 1 rows"):
        table1_variants(["SimCLR"])


def test_table_beside_the_paper_and_its_verdict(root):
    train, val = load_splits("youcook2", ("train", "val"), data_root=root, text_features="text_default.h5",
                             text_tokens=True)
    config = paper_config(epochs=1, batch_size=12, embed_dim=32, hidden_dim=32)
    results = run_comparison(table1_variants(["CLIP", "CrossCLR"], queue_size=12), [0], (train, None, val), config,
                             group="recipe", baseline="CLIP", log=lambda line: None)
    table = table1_findings(results)
    rows = {r[0]: r for r in table.rows}
    assert rows["CLIP · T→V"][2] == "17.8/42.1/54.4"
    ours = results["summary"]["CrossCLR"]["mean"]["t2v_r1"]
    assert rows["CrossCLR · T→V"][1].startswith(f"{ours:.1f}/")
    for stand_in in (True, False):
        verdict = table1_verdict(table, stand_in=stand_in)
        assert check_claims({table.name: table.markdown()}, verdict) == []
        assert ("stand-in" in verdict.text) is stand_in
