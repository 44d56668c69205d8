"""Issue 23, items 4 and 7: ``caption --from`` reuses a compare run only on exactly the inputs it was trained on
(feature names in their order, widths, fingerprint), and a run folder missing what it needs is one line, exit 2."""

import json
import shutil

import pytest
import torch
from fixtures.tiny_runs import run_cli

from crossclr_lab.captioning.compare import load_encoders
from crossclr_lab.data import load_dataset

FEATURES = ["motion", "handcrafted"]


@pytest.fixture(scope="module")
def compare_run(tmp_path_factory):
    threads = torch.get_num_threads()
    out = tmp_path_factory.mktemp("cmp") / "run"
    code = _cli(["compare", "--dataset", "emoji_motion", "--video-features", *FEATURES, "--epochs", "1",
                 "--seeds", "1", "--threads", "1", "--no-progress", "--out", out])
    torch.set_num_threads(threads)
    assert code == 0
    return out


def _cli(argv):
    from crossclr_lab.cli import main

    try:
        return main([str(a) for a in argv])
    except SystemExit as exc:
        return exc.code


@pytest.fixture
def run_copy(compare_run, tmp_path):
    return shutil.copytree(compare_run, tmp_path / "run")


def _caption_from(run, capsys, tmp_path, features=FEATURES):
    code, _, err = run_cli(["caption", "--from", run, "--dataset", "emoji_motion", "--video-features", *features,
                            "--captioner-epochs", "1", "--no-java", "--threads", "1", "--out", tmp_path / "cap"],
                           capsys)
    return code, err


def test_the_same_inputs_load_the_run(compare_run):
    train = load_dataset("emoji_motion", "train", video_features=FEATURES)
    models, _ = load_encoders(compare_run, train)
    assert sorted(models) == ["crossclr", "infonce"] and list(models["crossclr"]) == [0]


def test_caption_from_a_run_on_the_video_experts_in_another_order_is_refused(compare_run, capsys, tmp_path):
    code, err = _caption_from(compare_run, capsys, tmp_path, features=FEATURES[::-1])
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "other inputs" in err and "video_features" in err and "--video-features" in err


def test_caption_from_a_run_on_other_feature_widths_is_refused(compare_run, capsys, tmp_path):
    code, err = _caption_from(compare_run, capsys, tmp_path, features=["motion"])
    assert code == 2 and len(err.strip().splitlines()) == 1 and "other inputs" in err


def test_caption_from_a_run_on_other_items_is_refused_by_the_fingerprint(compare_run):
    train = load_dataset("emoji_motion", "train", video_features=FEATURES)
    train.video = train.video.flip(2)                     # same names, widths and size; other numbers
    with pytest.raises(ValueError, match="fingerprint"):
        load_encoders(compare_run, train)


def test_caption_from_results_without_the_data_description_is_one_line(run_copy, capsys, tmp_path):
    results = json.loads((run_copy / "results.json").read_text())
    del results["data"]
    (run_copy / "results.json").write_text(json.dumps(results))
    code, err = _caption_from(run_copy, capsys, tmp_path)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "does not record the inputs" in err


def test_caption_from_a_record_without_the_encoder_config_is_one_line(run_copy, capsys, tmp_path):
    path = run_copy / "runs" / "crossclr" / "seed0" / "record.json"
    record = json.loads(path.read_text())
    del record["config"]["hidden_dim"]
    path.write_text(json.dumps(record))
    code, err = _caption_from(run_copy, capsys, tmp_path)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "lacks the encoder settings" in err


def test_caption_from_weights_of_another_width_is_one_line(run_copy, capsys, tmp_path):
    path = run_copy / "runs" / "infonce" / "seed0" / "record.json"
    record = json.loads(path.read_text())
    record["config"]["hidden_dim"] += 1
    path.write_text(json.dumps(record))
    code, err = _caption_from(run_copy, capsys, tmp_path)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "does not fit the model" in err


def test_caption_from_a_damaged_checkpoint_is_one_line_exit_1(run_copy, capsys, tmp_path):
    from fixtures.tiny_runs import flip_bytes

    path = run_copy / "runs" / "crossclr" / "seed0" / "checkpoint.pt"
    flip_bytes(path, path.stat().st_size // 2, 8)
    code, err = _caption_from(run_copy, capsys, tmp_path)
    assert code == 1 and len(err.strip().splitlines()) == 1 and str(path) in err
