"""The benchmark's quick mode (what CI runs): it completes, writes its JSON, leaves the README alone, and
what it measured is consistent (peers that share our maths agree with our losses)."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import report
from benchmarks.loss_speed import OURS, bound_shapes
from benchmarks.peers import PEERS, Peer, load_peer

REPO = Path(__file__).resolve().parents[1]
README = REPO / "benchmarks" / "README.md"


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    before = _digest(README)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--json", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert _digest(README) == before, "quick mode must not rewrite benchmarks/README.md"
    return json.loads(out.read_text()), proc.stdout


@pytest.mark.slow
def test_quick_mode_measures_every_section(quick):
    result, stdout = quick
    assert result["mode"] == "quick"
    assert {"losses", "memory", "distributed", "retrieval", "end_to_end", "train_step", "umap",
            "environment"} <= set(result)
    assert result["train_step"]["losses"]["crossclr"]["ratio"] > 0 and "## Training step" in stdout
    assert result["environment"]["device"] in ("cpu", "cuda", "cuda:0")
    for group in result["losses"]["groups"]:
        for case in ("crossclr full", "crossclr full q3k", "infonce"):
            row = group["cases"][case]
            assert len(row["samples_ms"]) == 3 and row["median_ms"] > 0 and row["x_bound"] > 0
    for name, status in result["losses"]["peers"].items():
        assert status == "not installed" or status.startswith(("ok", "not importable")), (name, status)
        assert f"peer {name}: {status}" in stdout
    assert all("peak_bytes" in r and r["peak_bytes"] > 0 for r in result["memory"]["rows"])
    assert result["retrieval"]["rows"][0]["median_s"] > 0
    rows = result["distributed"]["rows"]
    assert {(r["n"], r["mode"]) for r in rows} == {(n, m) for n in (1, 2) for m in ("gather", "local")}
    for r in rows:   # one global batch for every N and mode: the same loss, and every rank's loss is the global one
        assert r["cpu_ms"] > 0 and r["saved_bytes"] > 0 and r["loss_spread_over_ranks"] == 0, r
        assert r["loss_diff_vs_n1"] < 1e-5 * r["loss"], r
    assert "## Distributed loss" in stdout
    assert "Benchmarks" in stdout and "## Losses" in stdout


@pytest.mark.slow
def test_peers_with_the_same_maths_agree(quick):
    result, _ = quick
    for group in result["losses"]["groups"]:
        for check, a in group["agreement"].items():
            assert a["loss_abs_diff"] < 1e-4 and a["grad_max_abs_diff"] < 1e-5, (check, a)


def test_peers_declare_whether_values_are_comparable():
    for peer in PEERS:
        assert peer.same_as is None or peer.same_as in {name for name, _ in OURS.values()}
        if peer.same_as is None:
            assert peer.note, f"{peer.name}: say why its values are not compared"


def test_bound_counts_the_similarity_work():
    b, d = 256, 128
    work = lambda case: sum(m * k * n for m, k, n in bound_shapes(case, b, d))  # noqa: E731
    assert work("infonce") == 3 * b * b * d
    assert work("crossclr intra only") == 7 * b * b * d                  # v tᵀ (3) + v vᵀ, t tᵀ (2 each)
    assert work("crossclr full q3k") == 7 * b * b * d + 4 * b * 3000 * d
    assert work("crossclr pruning only") == work("infonce")
    assert work("nt_xent") == 8 * b * b * d


def test_goal_verdict_follows_the_numbers():
    def group(x_ref, x_bound, b=1024):
        return {"b": b, "d": 256, "dtype": "float32", "reference": "open_clip ClipLoss",
                "cases": {"crossclr full": {"x_reference": x_ref, "x_bound": x_bound}}}
    ok = report.loss_goals({"groups": [group(1.4, 1.9), group(9.0, 9.0, b=64)]})
    assert ok["verdict"]["crossclr full"] == {"vs_clip": True, "vs_bound": True}
    bad = report.loss_goals({"groups": [group(1.4, 1.9), group(1.6, 2.1, b=4096)]})
    assert bad["verdict"]["crossclr full"] == {"vs_clip": False, "vs_bound": False}


@pytest.mark.slow
def test_render_rebuilds_the_report_from_json(quick, tmp_path):
    result, stdout = quick
    path = tmp_path / "r.json"
    path.write_text(json.dumps(result))
    out = tmp_path / "README.md"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--render", str(path), "--readme", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = out.read_text()
    assert text == report.markdown(result)
    for heading in ("## Losses", "### Goals", "## Loss memory", "## Retrieval metrics", "## End to end", "## UMAP map"):
        assert heading in text


def test_report_shows_a_failed_section():
    result = {"mode": "full", "command": "python -m benchmarks.run", "wall_s": 1.0, "load_start": 0.5,
              "load_end": 0.5, "threads_from": "auto",
              "environment": {"date_utc": "2026-01-01T00:00:00+00:00", "git_commit": "abc", "device": "cpu",
                              "versions": {"torch": "2"},
                              "machine": {"cpu": "x", "cpus_available": 2, "torch_threads": 1, "memory_gib": 1,
                                          "platform": "linux"}},
              "umap": {"error": "RuntimeError: boom"},
              "end_to_end": {"emoji_motion": {"error": "AttributeError: x"},
                             "youcook2_sized": {"skipped": "no trainer"}}}
    text = report.markdown(result)
    assert "## UMAP map\n\nFailed: RuntimeError: boom" in text
    assert "- Emoji Motion: failed (AttributeError: x)." in text and "skipped (no trainer)" in text


def test_a_missing_peer_is_reported_not_raised():
    peer = Peer("nothing", "no-such-distribution-for-crossclr-lab", "no_such_module.loss", lambda mod, tau: None,
                same_as=None, note="test")
    assert load_peer(peer) == (None, "not installed")


def test_wall_time_tables_follow_the_numbers(tmp_path, monkeypatch):
    from benchmarks import wall_times

    rows = [{"notebook": "00_a", "status": "ok", "wall_time_s": 20.0}, {"notebook": "01_b", "status": "ok",
                                                                       "wall_time_s": 75.0}]
    text = "\n".join(wall_times.series_lines({"params": "ci", "notebooks": rows}))
    assert "**95**" in text and "the series <= 180 s: met" in text and "missed (01_b)" in text
    rows[1]["status"] = "failed"
    assert "FAILED" in "\n".join(wall_times.series_lines({"params": "ci", "notebooks": rows}))
    demo = {"wall_s": 61.0, "cpu_s": 100.0, "peak_rss_mib": {"main": 650.0, "worker": 701.0}, "load_start": 0.1,
            "load_end": 1.0, "table": ["| crossclr | 1 |"], "args": []}
    text = "\n".join(wall_times.demo_lines(demo))
    assert "| wall time | 61 s | <= 60 s | no |" in text and "701 MiB (main 650, worker 701)" in text
    assert "| <= 700 MiB | no |" in text and "| crossclr | 1 |" in text
    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\n")
    monkeypatch.setattr(wall_times, "README", readme)
    wall_times.write_readme("demo-time", ["one"], "Demo")
    wall_times.write_readme("demo-time", ["two"], "Demo")      # replaced between its markers, not appended
    assert readme.read_text().count("demo-time:start") == 1 and "two" in readme.read_text()
