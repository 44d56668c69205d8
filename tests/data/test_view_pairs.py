"""Two named views of Emoji Motion in one PairedFeatures: shapes, the text view in either slot, errors, and a
tiny real comparison through the CLI."""

import pytest
import torch

from crossclr_lab.cli import main
from crossclr_lab.data.emoji_motion import load_emoji_motion
from crossclr_lab.data.view_pairs import VIEWS, load_view_pair


def test_expert_pair_keeps_both_experts_frames():
    pair = load_view_pair(("appearance", "motion"), "val")
    app, mot = (load_emoji_motion("val", video_features=v) for v in ("appearance", "motion"))
    assert torch.equal(pair.video, app.video) and torch.equal(pair.text, mot.video)
    assert pair.text_lengths.tolist() == [8] * len(pair) and torch.allclose(pair.text_pooled, mot.video_pooled)
    assert pair.ids == app.ids and pair.groups == app.groups and pair.name == "emoji_motion:appearance↔motion"


def test_text_view_in_either_slot():
    first = load_view_pair(("text", "motion"), "test")
    second = load_view_pair(("motion", "text"), "test")
    mot = load_emoji_motion("test", video_features="motion")
    assert first.video.shape == (len(mot), 1, 384) and torch.equal(first.video_pooled, mot.text)
    assert torch.equal(first.text, mot.video) and torch.equal(second.video, mot.video)
    assert torch.equal(second.text, mot.text) and second.text_lengths is None


@pytest.mark.parametrize("views, match", [
    (("appearance",), "two names"), ("appearance", "two names"), (("appearance", "colour"), "unknown view.*'colour'"),
    (("motion", "motion"), "two different views"),
])
def test_bad_view_pairs_name_the_choices(views, match):
    with pytest.raises(ValueError, match=match):
        load_view_pair(views)
    assert set(VIEWS) == {"text", "appearance", "motion", "handcrafted"}


def test_compare_a_view_pair_on_the_command_line(tmp_path, capsys, one_thread):
    code = main(["compare", "--pair", "motion", "handcrafted", "--seeds", "1", "--epochs", "1", "--no-progress",
                 "--threads", "1", "--out", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert code == 0 and "emoji_motion:motion↔handcrafted" in out and "Verdict crossclr vs infonce" in out
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--pair", "motion", "text", "--video-features", "motion", "--out", str(tmp_path / "x")])
    assert exit_info.value.code == 2 and "without --video-features" in capsys.readouterr().err
