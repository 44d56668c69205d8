"""Notebook 09's companion: the rendered clips move as their captions say, the paired t-test matches its formula,
and the verdicts hold against the tables they read."""

import math

import numpy as np
import pytest
from scipy import stats

from crossclr_lab.lab.findings import check_claims
from crossclr_lab.lab.your_videos import (
    MOTIONS,
    caption,
    emoji_tiles,
    expert_table,
    expert_verdict,
    loss_table,
    paired_ttest,
    paired_verdict,
    render,
)


def _ink_centre_and_area(frame: np.ndarray) -> tuple[float, float, float]:
    ink = 255 - frame.astype(float).mean(-1)                      # white background: 0
    ys, xs = np.nonzero(ink > 30)
    return float(xs.mean()), float(ys.mean()), float(len(xs))


@pytest.fixture(scope="module")
def apple():
    return emoji_tiles(["red apple"])["red apple"]


def test_rendered_motion_matches_its_caption(apple):
    first, last = {}, {}
    for motion in MOTIONS:
        frames = render(apple, motion, frames=12)
        assert frames.shape == (12, 96, 96, 3) and frames.dtype == np.uint8
        first[motion], last[motion] = _ink_centre_and_area(frames[0]), _ink_centre_and_area(frames[-1])
    assert last["left"][0] < first["left"][0] - 20 and last["right"][0] > first["right"][0] + 20
    assert last["up"][1] < first["up"][1] - 20 and last["down"][1] > first["down"][1] + 20
    assert last["grow"][2] > 3 * first["grow"][2] and last["shrink"][2] < first["shrink"][2] / 3
    spin = render(apple, "spin", frames=12)
    assert abs(_ink_centre_and_area(spin[3])[2] - first["spin"][2]) < 0.3 * first["spin"][2]
    assert not np.array_equal(spin[0], spin[3])
    with pytest.raises(ValueError, match="motion must be one of"):
        render(apple, "jump")
    with pytest.raises(ValueError, match="no Emoji Motion emoji"):
        emoji_tiles(["not an emoji"])


def test_caption_says_what_and_how():
    assert caption("red apple", "left") == "a red apple sliding to the left"
    assert caption("eggplant", "spin") == "an eggplant spinning"


def test_paired_ttest_matches_the_formula_and_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(5, 2, 6), rng.normal(4, 2, 6)
    mean, t, p = paired_ttest(list(a), list(b))
    d = a - b
    t_ref = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
    assert mean == pytest.approx(d.mean()) and t == pytest.approx(t_ref)
    assert p == pytest.approx(2 * stats.t.sf(abs(t_ref), len(d) - 1))
    assert paired_ttest([1, 2, 3], [1, 2, 3]) == (0.0, 0.0, 1.0)
    assert paired_ttest([2, 3, 4], [1, 2, 3])[2] == 0.0                  # a constant non-zero shift
    assert math.isnan(paired_ttest([1.0], [0.0])[2])


def _results(values: dict[str, list[float]], metrics=("t2v_r1", "v2t_r1", "t2v_r5", "v2t_r5")) -> dict:
    runs = {name: [{"test": {m: v + k for k, m in enumerate(metrics)}} for v in vals] for name, vals in values.items()}
    return {"seeds": list(range(len(next(iter(values.values()))))), "n_test": 13,
            "variants": {name: {"runs": r} for name, r in runs.items()}}


def test_verdicts_hold_against_their_tables_and_a_changed_table_fails():
    results = _results({"crossclr": [10, 12, 14, 16, 18], "infonce": [5, 6, 7, 8, 9.5]})
    table = loss_table(results)
    verdict = paired_verdict(table)
    assert "4 of 4 differences are significant" in verdict.text
    assert check_claims({"losses": table.markdown()}, verdict) == []
    altered = table.markdown().replace("*", "")
    assert check_claims({"losses": altered}, verdict)
    same = loss_table(_results({"crossclr": [1, 2, 3], "infonce": [1, 2, 3]}))
    assert "0 of 4" in paired_verdict(same).text

    by_view = {"appearance": _results({"crossclr": [30, 31, 33]}), "motion": _results({"crossclr": [10, 14, 9]}),
               "both": _results({"crossclr": [31, 33, 34]})}
    experts = expert_table(by_view)
    verdict = expert_verdict(experts)
    assert "highest mean with **both**" in verdict.text
    assert check_claims({"experts": experts.markdown()}, verdict) == []
    swapped = experts.markdown().replace("| both | 32.7", "| both | 2.7")
    assert check_claims({"experts": swapped}, verdict)


def test_make_clips_replaces_its_own_clips_and_refuses_other_files(tmp_path):
    from crossclr_lab.lab.your_videos import make_clips

    captions = make_clips(tmp_path / "clips", emojis=["cat"], motions=("left", "up"), frames=4)
    assert sorted(p.name for p in (tmp_path / "clips").iterdir()) == ["captions.csv", "cat-left.mp4", "cat-up.mp4"]
    make_clips(tmp_path / "clips", emojis=["banana"], motions=("spin",), frames=4)
    assert sorted(p.name for p in (tmp_path / "clips").iterdir()) == ["banana-spin.mp4", "captions.csv"]
    assert captions.read_text().splitlines() == ["file,caption,emoji,motion",
                                                 "banana-spin.mp4,a banana spinning,banana,spin"]
    (tmp_path / "clips" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="did not write"):
        make_clips(tmp_path / "clips", emojis=["cat"], frames=4)
