"""Learner-facing descriptions of Emoji Motion's video features name the features the loader defaults to.

Each expert has phrases that only a description of it uses; a text that describes the video features must
name every default expert and no other (a clause that says "hand-crafted" is about the alternative on purpose).
"""

import re
from pathlib import Path

import pytest

from crossclr_lab.data import load_dataset
from crossclr_lab.data.emoji_motion import DEFAULT_VIDEO_FEATURES, VIDEO_FEATURES

REPO = Path(__file__).resolve().parents[1]
MARKERS = {  # expert -> phrases that describe it
    "appearance": [r"EfficientNet", r"\b1280\b"],
    "motion": [r"motion(-energy)? grid", r"motion energy", r"4×4"],
    "handcrafted": [r"16×16", r"16x16", r"shape (code|PCA)", r"colou?r histogram", r"\b144\b", r"\bink\b"],
}
TEXTS = ["notebooks/01_false_negatives.py", "notebooks/05_retrieval_and_search.py", "notebooks/07_captioning.py",
         "notebooks/NOTATION.md", "crossclr_lab/lab/retrieval.py"]


def named_experts(text: str) -> set[str]:
    """The experts ``text`` describes, clauses about the hand-crafted alternative left out."""
    clauses = [c for c in re.split(r"[.;\n]", text) if not re.search(r"hand-?crafted", c, re.I)]
    joined = "\n".join(clauses)
    return {e for e, pats in MARKERS.items() if any(re.search(p, joined) for p in pats)}


def test_markers_cover_every_expert_of_the_loader():
    assert set(MARKERS) == set(VIDEO_FEATURES)


@pytest.mark.parametrize("path", TEXTS)
def test_text_describes_the_default_video_features(path):
    named = named_experts((REPO / path).read_text(encoding="utf-8"))
    assert named == set(DEFAULT_VIDEO_FEATURES), (
        f"{path} describes the video features as {sorted(named)}, the loader defaults to {DEFAULT_VIDEO_FEATURES}")


def test_quoted_dimensions_are_the_loaders():
    dim = load_dataset("emoji_motion", split="val").video.shape[-1]
    text = (REPO / "notebooks/07_captioning.py").read_text(encoding="utf-8")
    assert f"raw pooled video features ({dim} numbers" in text


def test_the_old_description_is_caught():
    old = "The video features of a frame are a coarse 16×16 shape code, a colour histogram and motion energy."
    assert named_experts(old) == {"handcrafted", "motion"} != set(DEFAULT_VIDEO_FEATURES)
