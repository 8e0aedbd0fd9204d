from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from mmsearch.errors import CorruptFile
from mmsearch.ingest import video
from mmsearch.ingest.pixels import GRID
from mmsearch.ingest.reader import read_file
from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.units import SegmentUnit
from mmsearch.samples import make_audio_only, make_video


def _segments(path: Path, settings: IngestSettings) -> list[SegmentUnit]:
    source, units = read_file(path, settings)
    assert source.kind == "video"
    out = list(units)
    assert all(isinstance(u, SegmentUnit) for u in out)
    return out  # type: ignore[return-value]


@pytest.fixture(scope="module")
def seventy_seconds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("v") / "talk.mp4", 70, fps=2, size=(64, 48))


def test_segments_cover_the_video_with_a_shorter_last_one(
    seventy_seconds: Path, settings: IngestSettings
) -> None:
    segments = _segments(seventy_seconds, settings)
    assert [(s.index, s.t_start, s.t_end) for s in segments] == [(0, 0, 30), (1, 30, 60), (2, 60, 70)]
    # each segment as a file of its own at 2 fps: 60, 60 and 20 frames → 30, 30 and 10 kept (fps 1)
    assert [len(s.frames) for s in segments] == [30, 30, 10]
    assert all(s.fps == 1.0 and s.duration == 70.0 for s in segments)
    picks = video.frame_picks(60, 30)  # torch.linspace(0, 59, 30).round()
    assert picks[:4] == (0, 2, 4, 6) and picks[14:16] == (28, 31) and picks[-1] == 59
    assert segments[1].frame_times == tuple(30 + p / 2 for p in picks)
    assert segments[1].clip_times == tuple(p / 2 for p in picks)  # the model's times start at 0
    assert segments[2].frame_times == tuple(60 + p / 2 for p in video.frame_picks(20, 10))
    # 64x48 enlarged to qwen-vl-utils' minimum of 128 cells per video frame, on the 32-px grid
    assert segments[0].frames[0].size == (448, 320)


def test_frames_show_the_video_changing_over_time(seventy_seconds: Path, settings: IngestSettings) -> None:
    first, *_, last = _segments(seventy_seconds, settings)
    start = np.asarray(first.frames[0], dtype=float).mean(axis=(0, 1))
    end = np.asarray(last.frames[-1], dtype=float).mean(axis=(0, 1))
    assert start[2] - start[0] > 100  # blue at the start
    assert end[0] - end[2] > 100  # red at the end
    assert first.image is first.frames[15]  # the preview is the middle frame


def test_segments_are_yielded_while_decoding(
    seventy_seconds: Path, settings: IngestSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[float] = []
    real = video._decoded

    def counting(path: Path, info: video.VideoInfo) -> Iterator[video.Decoded]:
        for item in real(path, info):
            decoded.append(item[0])
            yield item

    monkeypatch.setattr(video, "_decoded", counting)
    _, units = read_file(seventy_seconds, settings)
    next(units)
    assert max(decoded) <= 30.0  # only up to the first frame past the segment


def test_max_frames_subsamples_linearly_and_records_the_real_fps(tmp_path: Path) -> None:
    path = make_video(tmp_path / "fast.mp4", 20, fps=10, size=(64, 48))
    settings = IngestSettings(video_segment_seconds=10, video_fps=4, video_max_frames=8)
    segments = _segments(path, settings)
    assert [len(s.frames) for s in segments] == [8, 8]  # 40 wanted, 8 allowed
    assert all(s.fps == pytest.approx(0.8) for s in segments)  # 8 of 100 frames at 10 fps
    assert video.frame_picks(100, 8) == (0, 14, 28, 42, 57, 71, 85, 99)
    assert segments[1].frame_times == pytest.approx([10 + p / 10 for p in (0, 14, 28, 42, 57, 71, 85, 99)])


def test_one_frame_segments_repeat_their_frame(tmp_path: Path, settings: IngestSettings) -> None:
    short = _segments(make_video(tmp_path / "blip.mp4", 0.1, fps=10, size=(64, 48)), settings)
    assert len(short) == 1
    assert short[0].t_end == pytest.approx(0.1)
    assert len(short[0].frames) == 2 and short[0].frames[0] is short[0].frames[1]
    assert short[0].frame_times == (0.0, 0.0) and short[0].clip_times == (0.0, 0.0)
    (few,) = _segments(make_video(tmp_path / "few.mp4", 0.6, fps=10, size=(64, 48)), settings)
    assert len(few.frames) == 4  # qwen-vl-utils takes at least 4 frames when a file has them
    tail = _segments(make_video(tmp_path / "tail.mp4", 30.5, fps=2, size=(64, 48)), settings)[-1]
    assert (tail.t_start, tail.t_end, len(tail.frames), tail.frame_times) == (30, 30.5, 2, (30.0, 30.0))


@pytest.mark.parametrize("container", ["mkv", "webm", "mov", "avi"])
def test_other_containers(tmp_path: Path, settings: IngestSettings, container: str) -> None:
    segments = _segments(make_video(tmp_path / f"clip.{container}", 3, fps=5, size=(64, 48)), settings)
    # 15 frames at 5 fps: 4 kept (qwen-vl-utils' minimum), at linspace(0, 14, 4).round() = 0, 5, 9, 14
    assert [(s.t_start, s.t_end, s.frame_times) for s in segments] == [(0, 3.0, (0.0, 1.0, 1.8, 2.8))]


def test_frames_are_scaled_into_the_frame_budget(tmp_path: Path) -> None:
    path = make_video(tmp_path / "hd.mp4", 2, fps=2, size=(640, 480))
    settings = IngestSettings(video_frame_max_pixels=48 * GRID * GRID)
    (segment,) = _segments(path, settings)
    w, h = segment.frames[0].size
    assert w * h <= 48 * GRID * GRID and w % GRID == 0 and h % GRID == 0 and w > h


def test_display_rotation_is_applied(tmp_path: Path, settings: IngestSettings) -> None:
    (upright_segment,) = _segments(make_video(tmp_path / "a.mp4", 1, fps=2, size=(96, 64)), settings)
    (turned_segment,) = _segments(
        make_video(tmp_path / "b.mp4", 1, fps=2, size=(96, 64), rotation=90), settings
    )
    upright, turned = upright_segment.frames[0], turned_segment.frames[0]
    assert turned.size == upright.size[::-1]
    assert np.array_equal(np.asarray(turned), np.rot90(np.asarray(upright)))  # 90 degrees counter-clockwise


def test_truncated_mp4_without_its_index_is_corrupt(tmp_path: Path, settings: IngestSettings) -> None:
    data = make_video(tmp_path / "whole.mp4", 4, fps=5).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFile, match=r"cut\.mp4: cannot be read as a video"):
        read_file(tmp_path / "cut.mp4", settings)


@pytest.mark.parametrize("name", ["cut.mp4", "cut.webm"])
def test_truncated_tail_fails_before_any_unit(tmp_path: Path, settings: IngestSettings, name: str) -> None:
    data = make_video(tmp_path / f"whole{Path(name).suffix}", 8, fps=5, faststart=True).read_bytes()
    (tmp_path / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(
        CorruptFile, match=r"the video is truncated: its frames stop at \d+\.\d s but the file says 8\.0 s"
    ):
        read_file(tmp_path / name, settings)


def test_damaged_frames_fail_the_file_with_the_time(tmp_path: Path, settings: IngestSettings) -> None:
    data = bytearray(make_video(tmp_path / "whole.mp4", 6, fps=10, faststart=True).read_bytes())
    middle = len(data) // 2
    data[middle : middle + 3000] = bytes((b * 31 + 7) % 256 for b in data[middle : middle + 3000])
    (tmp_path / "damaged.mp4").write_bytes(bytes(data))
    _, units = read_file(tmp_path / "damaged.mp4", settings)
    with pytest.raises(CorruptFile, match=r"damaged\.mp4: .* at \d+\.\d s"):
        list(units)


def test_audio_only_file_is_corrupt(tmp_path: Path, settings: IngestSettings) -> None:
    make_audio_only(tmp_path / "song.mkv")
    with pytest.raises(CorruptFile, match=r"song\.mkv: has no video stream"):
        read_file(tmp_path / "song.mkv", settings)


def test_plan_segments_edges() -> None:
    plans = video.plan_segments([float(t) for t in range(60)], 60.0, 30.0, 1.0, 1.0, 64)
    assert [(p.t_start, p.t_end, p.first, p.count, len(p.picks)) for p in plans] == [
        (0, 30, 0, 30, 30),
        (30, 60, 30, 30, 30),
    ]
    (only,) = video.plan_segments([0.0], 0.2, 30.0, 5.0, 1.0, 64)
    assert (only.t_end, only.count, only.picks) == (0.2, 1, (0, 0))
    gap = video.plan_segments([0.0, 1.0, 65.0], 66.0, 30.0, 1.0, 1.0, 64)
    assert [(p.first, p.count, p.picks) for p in gap] == [(0, 2, (0, 1)), (1, 1, (0, 0)), (2, 1, (0, 0))]


def test_frame_count_is_qwen_vl_utils_smart_nframes() -> None:
    from qwen_vl_utils.vision_process import smart_nframes

    for total, stream_fps in [(300, 10.0), (65, 10.0), (3, 30.0), (2000, 30.0), (7, 2.0), (121, 29.97)]:
        official = smart_nframes({"fps": 1.0, "max_frames": 64}, total_frames=total, video_fps=stream_fps)
        assert video.frame_count(total, stream_fps, 1.0, 64) == official
    assert video.frame_count(1, 10.0, 1.0, 64) == 1
    assert video.frame_picks(65, 6) == (0, 13, 26, 38, 51, 64)


def test_frame_time_is_relative_to_the_stream_start_and_fills_missing_pts() -> None:
    info = video.VideoInfo(0, Fraction(1, 1000), 500, 10.0, 0.04, 1, 64, 48)

    class Frame:
        def __init__(self, pts: int | None) -> None:
            self.pts = pts

    assert video.frame_time(Frame(1500), info, previous=None) == 1.0  # type: ignore[arg-type]
    assert video.frame_time(Frame(None), info, previous=None) == 0.0  # type: ignore[arg-type]
    assert video.frame_time(Frame(None), info, previous=1.0) == pytest.approx(1.04)  # type: ignore[arg-type]
    assert video.frame_time(Frame(100), info, previous=None) == 0.0  # type: ignore[arg-type]  # pre-roll clamps
