"""``crossclr-lab extract`` (experts/extract.py): video files and captions -> a folder dataset of expert features.

The extracted features equal the Emoji Motion builder's for the same frames; bad inputs are each reported
and the rest still makes a dataset; a killed extraction resumes to the same bytes; ``compare`` trains on it.
"""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from crossclr_lab.cli import main as cli_main
from crossclr_lab.data.folder import load_folder, load_views
from crossclr_lab.experts import appearance
from crossclr_lab.experts.extract import ExtractError, assign_splits, extract_videos, read_captions
from crossclr_lab.experts.video import VideoError, read_clip, write_video
from crossclr_lab.lab.your_videos import make_clips

REPO = Path(__file__).resolve().parents[2]


def _missing() -> str | None:
    try:
        appearance.check_installed()
    except ImportError as err:
        return str(err)
    return None


needs_cnn = pytest.mark.skipif(_missing() is not None, reason=f"the video extra is not installed: {_missing()}")


def _moving(k: int, n: int = 16, size: int = 64) -> np.ndarray:
    frames = np.full((n, size, size, 3), 255, np.uint8)
    colour = np.random.default_rng(k).integers(0, 200, 3)
    for i in range(n):
        frames[i, 20:36, (3 * i + k) % (size - 16):(3 * i + k) % (size - 16) + 16] = colour
    return frames


def _folder(root: Path, n: int, suffix: str = ".mp4") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = ["file,caption"]
    for k in range(n):
        write_video(root / f"clip{k:02d}{suffix}", _moving(k))
        lines.append(f"clip{k:02d}{suffix},a square of colour {k} sliding to the right")
    (root / "captions.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root / "captions.csv"


@pytest.fixture(scope="module")
def lite0():
    if _missing():
        pytest.skip(_missing())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield appearance.load_lite0()
    torch.set_num_threads(threads)


# -- one clip: the same features as the Emoji Motion builder -------------------------------------------------------
@needs_cnn
@pytest.mark.parametrize("suffix", [".mp4", ".webm", ".gif", ".webp"])
def test_features_equal_the_builders_for_the_same_frames(tmp_path, lite0, suffix):
    from crossclr_lab.experts.extract import clip_features
    from tools import build_emoji_motion as b

    path = write_video(tmp_path / f"clip{suffix}", _moving(3, n=20))
    # The frames the decoder saw, as the builder's input: a lossless animated WebP of them.
    if suffix in (".mp4", ".webm"):
        with av.open(str(path)) as c:
            frames = [f.to_ndarray(format="rgba") for f in c.decode(video=0)]
    else:
        with Image.open(path) as im:
            frames = []
            for i in range(im.n_frames):
                im.seek(i)
                frames.append(np.asarray(im.convert("RGBA")))
    buf = io.BytesIO()
    images = [Image.fromarray(f, "RGBA") for f in frames]
    images[0].save(buf, "WEBP", save_all=True, append_images=images[1:], lossless=True, duration=40)
    built = b.decode_clip(buf.getvalue())
    ours = clip_features(lite0, path)
    assert ours["n_frames"] == built["n_frames"] == 20
    assert np.array_equal(ours["motion"], built["motion"])
    assert np.array_equal(ours["appearance"], appearance.extract(lite0, built["pixels"])[built["slots"]])
    assert ours["appearance"].shape == (8, 1280) and ours["motion"].max() > 0


def test_read_clip_names_bad_files(tmp_path):
    (tmp_path / "text.mp4").write_text("not a video")
    write_video(tmp_path / "ok.mp4", _moving(0, n=24))
    data = (tmp_path / "ok.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 3])
    (tmp_path / "empty.webm").write_bytes(b"")
    for name in ("text.mp4", "cut.mp4", "empty.webm"):
        with pytest.raises(VideoError, match="unreadable or truncated"):
            read_clip(tmp_path / name)
    with pytest.raises(VideoError, match="not a video file"):
        read_clip(tmp_path / "notes.txt")
    assert read_clip(tmp_path / "ok.mp4").n_frames == 24


# -- captions and splits -------------------------------------------------------------------------------------------
def test_read_captions_csv_jsonl_and_non_utf8_rows(tmp_path):
    csv_path = tmp_path / "c.csv"
    csv_path.write_bytes("file,caption,split\na.mp4,first,train\n".encode()
                         + "b.mp4,caf\xe9 latin-1,val\n".encode("latin-1") + b"c,\"quoted, comma\",test\n,x,\n")
    rows, problems = read_captions(csv_path)
    assert [(r.file, r.caption, r.split) for r in rows] == [("a.mp4", "first", "train"), ("c", "quoted, comma", "test")]
    assert [str(p) for p in problems] == ["c.csv line 3: not UTF-8 text; save the caption file as UTF-8",
                                          "c.csv line 5: no file named"]
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text('{"file": "a.mp4", "caption": "one", "group": 3}\n[1]\n{"file": "b", "caption": ""}\n')
    rows, problems = read_captions(jsonl)
    assert [(r.file, r.group) for r in rows] == [("a.mp4", "3")]
    assert [p.where for p in problems] == ["c.jsonl line 2", "c.jsonl line 3"]
    (tmp_path / "bad.csv").write_text("name,text\n")
    with pytest.raises(ValueError, match="header naming the columns file and caption"):
        read_captions(tmp_path / "bad.csv")


def test_seeded_split_keeps_groups_together():
    from crossclr_lab.experts.extract import CaptionRow

    captions = {f"v{i}": [CaptionRow(f"v{i}", "c", None, f"g{i % 10}", i)] for i in range(60)}
    splits, how = assign_splits(captions, seed=0)
    assert "by group" in how
    by_group = {}
    for name, split in splits.items():
        by_group.setdefault(f"g{int(name[1:]) % 10}", set()).add(split)
    assert all(len(s) == 1 for s in by_group.values())
    assert {"train", "val", "test"} == set(splits.values())
    assert splits == assign_splits(captions, seed=0)[0] != assign_splits(captions, seed=1)[0]


# -- the whole folder ----------------------------------------------------------------------------------------------
@needs_cnn
def test_every_bad_input_is_reported_and_the_rest_makes_a_dataset(tmp_path, capsys):
    videos = tmp_path / "videos"
    captions = _folder(videos, 6)
    write_video(videos / "dup.mp4", _moving(7))
    write_video(videos / "dup.webm", _moving(8))
    (videos / "broken.mp4").write_text("not a video")
    good = (videos / "clip00.mp4").read_bytes()
    (videos / "cut.mp4").write_bytes(good[: len(good) // 3])
    with av.open(str(videos / "noframes.avi"), "w") as c:          # a header, a video stream, no frame
        stream = c.add_stream("mpeg4", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        c.start_encoding()
    write_video(videos / "silent.mp4", _moving(9))                      # no caption row
    with open(captions, "ab") as f:
        f.write(b"dup,a duplicate\nbroken.mp4,broken\ncut.mp4,cut\nnoframes.avi,empty\nmissing.mp4,gone\n")
        f.write("clip05.mp4,d\xe9j\xe0 vu\n".encode("latin-1"))
    out = tmp_path / "ds"
    code = cli_main(["extract", str(videos), "--captions", str(captions), "--out", str(out),
                     "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    err = capsys.readouterr().err
    report = (tmp_path / "ds.report.txt").read_text()
    expected = {"dup: duplicate name": "dup.mp4, dup.webm",
                "broken.mp4: unreadable or truncated": "",
                "cut.mp4: unreadable or truncated": "",
                "noframes.avi: a video stream without frames": "",
                "names 'missing.mp4', which is not a video file": "",
                "captions.csv line 13: not UTF-8 text": "",
                "silent.mp4: no caption row names this video": ""}
    for start, detail in expected.items():
        line = next((x for x in report.splitlines() if start in x), None)
        assert line is not None and detail in line, f"{start!r} missing from the report:\n{report}"
        assert start in err
    card = load_views(out, "train")
    ids = [i for s in ("train", "val", "test") if (out / s).is_dir()
           for i in json.loads((out / s / "items.json").read_text())["ids"]]
    assert sorted(ids) == [f"clip{k:02d}" for k in range(6)]
    assert set(card) == {"video", "text", "appearance", "motion"}
    info = json.loads((out / "dataset.json").read_text())["info"]
    assert info["extraction"]["appearance"]["weights_sha256"] == appearance.WEIGHTS_SHA256
    assert info["packages"]["av"] == av.__version__ and len(info["problems"]) == 8   # and the row naming dup
    # --strict: the same folder writes nothing and exits 1
    assert cli_main(["extract", str(videos), "--captions", str(captions), "--out", str(tmp_path / "strict"),
                     "--cache-dir", str(tmp_path / "cache"), "--strict"]) == 1
    assert not (tmp_path / "strict").exists() and (tmp_path / "strict.report.txt").is_file()


@needs_cnn
def test_nothing_usable_exits_non_zero(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "a.mp4").write_text("junk")
    (videos / "c.csv").write_text("file,caption\na.mp4,x\n")
    with pytest.raises(ExtractError, match="0 usable videos"):
        extract_videos(videos, videos / "c.csv", tmp_path / "ds", cache_dir=tmp_path / "cache", progress=False,
                       log=lambda line: None)
    assert cli_main(["extract", str(videos), "--captions", str(videos / "c.csv"), "--out", str(tmp_path / "ds"),
                     "--cache-dir", str(tmp_path / "cache")]) == 1
    assert "a.mp4: unreadable" in (tmp_path / "ds.report.txt").read_text() and not (tmp_path / "ds").exists()


@needs_cnn
def test_several_captions_a_split_column_and_the_notebooks_clips(tmp_path):
    videos = tmp_path / "videos"
    captions = make_clips(videos, emojis=["red apple", "cat"], motions=("left", "spin"))
    text = captions.read_text().splitlines()
    rows = [text[0] + ",split"] + [f"{line},{'train' if 'apple' in line else 'val'}" for line in text[1:]]
    rows.append("red_apple-left.mp4,an apple moving to the left,red apple,left,train")
    captions.write_text("\n".join(rows) + "\n")
    result = extract_videos(videos, captions, tmp_path / "ds", cache_dir=tmp_path / "cache", progress=False)
    assert result.splits == {"train": 3, "val": 2} and result.problems == []
    train = load_folder(tmp_path / "ds", "train")
    assert train.ids == ["red_apple-left#0", "red_apple-left#1", "red_apple-spin"]
    assert train.groups["video"] == ["red_apple-left", "red_apple-left", "red_apple-spin"]
    assert torch.equal(train.video[0], train.video[1]) and not torch.equal(train.text[0], train.text[1])
    motion = load_folder(tmp_path / "ds", "train", video_view="motion")
    assert torch.equal(motion.video, train.video[..., 1280:])
    assert torch.allclose(train.text.norm(dim=1), torch.ones(3), atol=1e-5)
    # a rerun with one new video extracts only that one
    write_video(videos / "extra.mp4", _moving(5))
    with open(captions, "a") as f:
        f.write("extra.mp4,a square sliding,,,val\n")
    again = extract_videos(videos, captions, tmp_path / "ds", cache_dir=tmp_path / "cache", progress=False,
                           overwrite=True)
    assert (again.extracted, again.cached, again.splits) == (1, 4, {"train": 3, "val": 3})


# -- resume after a real kill, 12 clips, and compare on the output -------------------------------------------------
def _extract_cmd(videos: Path, out: Path, cache: Path) -> list[str]:
    return [sys.executable, "-m", "crossclr_lab", "extract", str(videos), "--captions", str(videos / "captions.csv"),
            "--out", str(out), "--cache-dir", str(cache), "--name", "clips"]


@needs_cnn
@pytest.mark.slow
def test_killed_extraction_resumes_to_the_same_bytes_and_compare_trains_on_it(tmp_path):
    videos = tmp_path / "videos"
    _folder(videos, 12)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # A fresh extraction of the 20-clip folder: the reference bytes.
    proc = subprocess.run(_extract_cmd(videos, tmp_path / "fresh", tmp_path / "cache1"), env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "12 videos (12 extracted, 0 cached)" in proc.stdout
    # Killed part way (SIGKILL once some videos are cached), then run again with the same cache.
    cache = tmp_path / "cache2"
    killed = subprocess.Popen(_extract_cmd(videos, tmp_path / "resumed", cache), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and len(list(cache.glob("*.npz"))) < 4 and killed.poll() is None:
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    done = len(list(cache.glob("*.npz")))
    assert 4 <= done < 12 and not (tmp_path / "resumed").exists()
    proc = subprocess.run(_extract_cmd(videos, tmp_path / "resumed", cache), env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"({12 - done} extracted, {done} cached)" in proc.stdout
    fresh, resumed = tmp_path / "fresh", tmp_path / "resumed"
    files = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(resumed) for p in resumed.rglob("*") if p.is_file())
    for rel in files:
        assert (fresh / rel).read_bytes() == (resumed / rel).read_bytes(), f"{rel} differs after the resume"
    # compare trains on the output
    proc = subprocess.run([sys.executable, "-m", "crossclr_lab", "compare", "--dataset", "folder", "--data-root",
                           str(fresh), "--seeds", "1", "--epochs", "2", "--batch-size", "8",
                           "--out", str(tmp_path / "cmp"), "--no-progress"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((tmp_path / "cmp" / "results.json").read_text())
    assert set(results["variants"]) == {"crossclr", "infonce"} and results["n_train"] > 0


def test_without_pyav_the_error_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)                       # `import av` now raises ImportError
    write_video_path = tmp_path / "a.gif"
    Image.new("RGB", (8, 8)).save(write_video_path)
    assert read_clip(write_video_path).n_frames == 1                   # animated images need no PyAV
    (tmp_path / "b.mp4").write_bytes(b"")
    with pytest.raises(ImportError, match=r"pip install -e '\.\[video\]'.*av==18\.1\.0.*make install"):
        read_clip(tmp_path / "b.mp4")
