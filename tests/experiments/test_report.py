"""Figures: labelled axes, one line per variant (+ chance), atomic PNG output, clear errors."""

import pytest
from matplotlib.figure import Figure

from crossclr_lab.experiments.report import (
    comparison_curves,
    plot_loss_curves,
    plot_metric_bars,
    plot_recall_curves,
    save_figure,
)


def _runs(base):
    return [{"seed": s, "test": {"t2v_r1": base + s, "t2v_r5": base + 10, "v2t_r1": base, "v2t_r5": 30.0},
             "recall_curves": {"t2v": [base + s + k for k in range(20)], "v2t": [base] * 20}}
            for s in range(3)]


def _results():
    runs = _runs
    return {"dataset": "toy", "n_test": 50, "seeds": [0, 1, 2],
            "chance": {"t2v_r1": 2.0, "t2v_r5": 10.0, "v2t_r1": 2.0, "v2t_r5": 10.0},
            "variants": {"crossclr": {"runs": runs(20.0)}, "infonce": {"runs": runs(15.0)}}}


def _labelled(ax):
    return ax.get_xlabel() and ax.get_ylabel() and ax.get_title()


def test_recall_curves(tmp_path):
    results = _results()
    fig = plot_recall_curves(comparison_curves(results), results["n_test"], title=results["dataset"])
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    for ax in fig.axes:
        assert _labelled(ax)
        labels = ax.get_legend_handles_labels()[1]
        assert labels == ["crossclr", "infonce", "chance (K/50)"]
    assert list(fig.axes[0].lines[0].get_ydata()[:2]) == [21.0, 22.0]  # t2v of crossclr: mean over the 3 seeds
    assert fig.axes[0].get_xscale() == "log" and fig.axes[1].get_title() == "toy: video → text, 50 pairs"
    path = save_figure(fig, tmp_path / "sub" / "recall.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in path.parent.iterdir()] == ["recall.png"]  # no temp file left behind


def test_loss_curves_cut_to_shortest_run_and_smooth():
    fig = plot_loss_curves({"a": [[4.0, 2.0, 0.0, 9.0], [4.0, 2.0, 0.0]], "b": [[1.0] * 5]}, smooth=2)
    ax = fig.axes[0]
    assert _labelled(ax) and "moving average of 2" in ax.get_ylabel()
    assert list(ax.lines[0].get_ydata()) == [4.0, 3.0, 1.0]
    assert ax.get_legend_handles_labels()[1] == ["a (2 seeds)", "b (1 seed)"]
    with pytest.raises(ValueError, match="empty"):
        plot_loss_curves({})


def test_metric_bars(tmp_path):
    fig = plot_metric_bars(_results())
    ax = fig.axes[0]
    assert _labelled(ax)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["T→V R@1", "T→V R@5", "V→T R@1", "V→T R@5"]
    heights = [p.get_height() for p in ax.patches]
    assert heights[:4] == pytest.approx([21.0, 30.0, 20.0, 30.0])
    save_figure(fig, tmp_path / "bars.svg")
    assert (tmp_path / "bars.svg").read_text().lstrip().startswith("<?xml")
