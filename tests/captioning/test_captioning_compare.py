"""The captioning comparison: table and verdicts from hand-made results, and `crossclr-lab caption` end to end."""

import json

import pytest
import torch
from fixtures.tiny_runs import run_cli

from crossclr_lab.captioning.compare import (
    CAPTION_METRICS,
    RAW,
    caption_verdict_lines,
    format_caption_table,
    write_caption_results,
)
from crossclr_lab.experiments.comparison import summarize


@pytest.fixture(autouse=True)
def restore_threads():
    threads = torch.get_num_threads()  # the CLI's --threads sets the process-wide value
    yield
    torch.set_num_threads(threads)


def _results(seeds=(0, 1, 2), crossclr_gain=2.0, skipped=True):
    """Hand-made results: CrossCLR beats InfoNCE by ``crossclr_gain`` on every metric (± 0.1 seed noise)."""
    metrics = [m for m in CAPTION_METRICS if not (skipped and m == "METEOR")]

    def runs(base):
        return [{"seed": s, "test": {m: base + 0.1 * s for m in metrics}} for s in seeds]

    results = {"dataset": "toy", "n_test": 10, "seeds": list(seeds), "baseline": "infonce",
               "references_per_clip": 2.5,
               "skipped": {"METEOR": "no Java runtime: `java` is not on the PATH"} if skipped else {},
               "trivial": {"caption": "a thing", "test": {m: 30.0 for m in metrics}},
               "variants": {"crossclr": {"runs": runs(10 + crossclr_gain)}, "infonce": {"runs": runs(10.0)},
                            RAW: {"runs": runs(10.0)}}}
    results["variants"][RAW]["runs"][0]["test"] = {m: 12.0 for m in metrics}  # raw: noisy, +0.7 on average
    results["summary"] = summarize(results, CAPTION_METRICS)
    return results


def test_table_lists_every_metric_the_constant_caption_and_what_was_skipped():
    table = format_caption_table(_results())
    header = table.splitlines()[0]
    for m in CAPTION_METRICS:
        assert (m in header) == (m != "METEOR")
    assert "| constant caption" in table and "Δ crossclr − infonce" in table and "Δ raw features − infonce" in table
    assert "+2.00 (0.00) p<0.001 *" in table
    assert "METEOR: skipped, no Java runtime" in table
    assert "METEOR" in format_caption_table(_results(skipped=False)).splitlines()[0]


def test_verdicts_follow_the_numbers():
    lines = caption_verdict_lines(_results())
    assert "crossclr vs infonce over 3 paired seeds" in lines[0] and "better beyond seed noise" in lines[0]
    assert "worse" not in lines[0]
    assert "raw features" in lines[1] and "no difference beyond seed noise" in lines[1]
    # the constant caption (30) beats every captioner (10-12) everywhere, CIDEr-D included
    assert "no captioner above it on mean CIDEr-D" in lines[2] and "BLEU@1" in lines[2]
    assert "rarity" not in lines[2]
    worse = caption_verdict_lines(_results(crossclr_gain=-2.0))[0]
    assert "worse beyond seed noise" in worse and "better" not in worse
    assert "too few seeds" in caption_verdict_lines(_results(seeds=(0, 1)))[0]


def test_results_are_written_as_json_and_markdown(tmp_path):
    results = _results()
    json_path, md_path = write_caption_results(results, tmp_path)
    assert json.loads(json_path.read_text()) == json.loads(json.dumps(results))
    assert "| constant caption" in md_path.read_text() and not list(tmp_path.glob(".*.tmp"))




@pytest.mark.slow
def test_caption_cli_smoke_then_reuse_the_encoders_with_from(tmp_path, capsys):
    out = tmp_path / "cap"
    argv = ["--seeds", "1", "--epochs", "1", "--captioner-epochs", "1", "--batch-size", "256", "--no-java",
            "--threads", "1"]
    code, stdout, err = run_cli(["caption", *argv, "--jobs", "2", "--out", str(out)], capsys)
    assert code == 0, err
    for m in CAPTION_METRICS:
        assert m in stdout
    assert "METEOR: skipped, switched off" in stdout and "| constant caption" in stdout and "T→V R@1" in stdout
    results = json.loads((out / "captioning.json").read_text())
    assert set(results["variants"]) == {"crossclr", "infonce", RAW} and results["skipped"] == {
        "METEOR": "switched off (use_java=False)"}
    run = results["variants"]["crossclr"]["runs"][0]
    assert len(run["captions"]) == results["n_test"] == len(results["test_references"])
    assert (out / "encoders" / "results.json").is_file()

    again = tmp_path / "again"
    code, stdout, err = run_cli(["caption", "--from", str(out / "encoders"), "--captioner-epochs", "1", "--no-java",
                              "--threads", "1", "--jobs", "1", "--out", str(again)], capsys)
    assert code == 0, err
    reused = json.loads((again / "captioning.json").read_text())
    for name in results["variants"]:  # the same models and seeds, in this process or two workers -> the same captions
        one, two = reused["variants"][name]["runs"][0], results["variants"][name]["runs"][0]
        assert one["captions"] == two["captions"] and one["test"] == two["test"] and one["history"] == two["history"]


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "0"], "--seeds must be >= 1"),
    (["--captioner-epochs", "0"], "--captioner-epochs"),
    (["--from", "/nonexistent/run"], "--from: no results.json"),
])
def test_caption_usage_errors(argv, message, capsys, tmp_path):
    code, _, err = run_cli(["caption", *argv, "--out", str(tmp_path)], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_from_a_run_on_other_data_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps({
        "dataset": "emoji_motion", "n_train": 5, "seeds": [0], "data": {"train": {"dataset": "emoji_motion", "n": 5}},
        "variants": {"crossclr": {"loss": "crossclr"}, "infonce": {"loss": "infonce"}}}))
    code, _, err = run_cli(["caption", "--from", str(run), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "other inputs" in err and "--split-kind" in err and len(err.strip().splitlines()) == 1


def test_caption_refuses_earlier_results_without_overwrite_and_foreign_files(tmp_path, capsys):
    (tmp_path / "captioning.json").write_text("{}")
    code, _, err = run_cli(["caption", "--dataset", "synthetic", "--out", str(tmp_path)], capsys)
    assert code == 1 and "--overwrite replaces it" in err
    (tmp_path / "notes.txt").write_text("mine")
    code, _, err = run_cli(["caption", "--dataset", "synthetic", "--overwrite", "--out", str(tmp_path)], capsys)
    assert code == 1 and "did not write (notes.txt)" in err and (tmp_path / "notes.txt").exists()

