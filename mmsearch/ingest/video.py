"""Videos → ``SegmentUnit``s of ``video_segment_seconds``, sampled at ``video_fps``, with PyAV.

Two sequential, seek-free passes over the file:

1. ``probe`` demuxes the video stream without decoding it (cheap: no pixels) to learn where the video
   really ends, and refuses damaged containers before any unit is produced: no video stream, no
   packets, a demuxer error, or packets that stop short of the duration the container states
   (a truncated download) → ``CorruptFile``.
2. ``segments`` decodes once, front to back, and yields each segment as soon as its last frame is
   decoded, so only one segment's frames are held at a time.

Sampling: each segment as the official code samples a file. Segment ``k`` covers
``[k·S, min((k+1)·S, duration))``; the last one is shorter and a short video is one segment. Its frames are
the ``m`` frames whose presentation time falls in that span, and of those it keeps what qwen-vl-utils
``fetch_video`` keeps of an ``m``-frame file (``smart_nframes`` with ``fps = video_fps`` and
``max_frames = video_max_frames``, then ``torch.linspace(0, m − 1, n).round()``): ``n`` is
``m / stream_fps · video_fps`` clamped to [4, max_frames] and to ``m``, rounded down to even. The frames are
decoded to RGB by FFmpeg at full size (the same pixels decord gives) and resized onto the model grid with
torchvision's antialiased bicubic, to the size ``fetch_video`` picks (``pixels.video_frame_size``).
``clip_times`` are the times the model's ``<t seconds>`` markers are computed from: frame index within the
segment / stream fps, so the segment reads as a file of its own, starting at 0 s; ``frame_times`` stay the
true times in the video (for links). Decoding is one sequential pass; only the kept frames are converted.

Frames are counted from the demux pass's packets (one frame each), which is also how decord counts a
file's frames. Display rotation (phone videos) is applied after resizing, where decord would ignore it.

One-frame segments: Qwen3-VL merges frames in temporal pairs (temporal patch 2), so a segment needs
≥ 2 frames. A segment of one frame (or none: a gap in a variable-rate video; the frame on screen is
taken) repeats it, where the official code would refuse a one-frame file.

Damage rule: a video fails as a whole. Besides the probe's checks, any decoder error or a frame the
decoder flags as corrupt raises ``CorruptFile`` naming the time where decoding broke. Segments before
that point may already have been yielded; the file is still reported as failed (not marked done), so
callers must treat a file's units as provisional until its iterator is exhausted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.container
import av.error
import av.stream
import av.video.frame
import av.video.stream
from PIL import Image

from mmsearch.errors import CorruptFile, LimitExceeded
from mmsearch.ingest.pixels import resize_frames, video_frame_size
from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.units import SegmentUnit, Source

MIN_FRAMES = 2  # Qwen3-VL temporal patch size
FPS_MIN_FRAMES = 4  # qwen-vl-utils: a video gets at least this many frames (when it has them)
TRUNCATION_TOLERANCE_S = 1.0  # packets may end this much (plus two frame intervals) before the stated end
_EPS = 1e-6
_REENCODE = "re-encode it (e.g. `ffmpeg -i IN -c:v libx264 OUT.mp4`)"


@dataclass(frozen=True)
class VideoInfo:
    """What the demux pass learned about a file's video stream."""

    stream_index: int
    time_base: Fraction
    origin: int  # pts of the start of the video, in time_base units
    duration: float  # seconds: end of the last packet, from the start of the video
    frame_interval: float  # seconds between frames at the stream's average rate (for frames without a pts)
    packets: int
    width: int
    height: int
    frame_times: tuple[float, ...] = ()  # each frame's time from the start, in presentation order


@dataclass(frozen=True)
class SegmentPlan:
    """A segment before decoding: its span, its frames (ordinals ``first … first + count − 1`` in the
    video) and which of them are kept (``picks``: indices within the segment)."""

    index: int
    t_start: float
    t_end: float
    first: int
    count: int
    picks: tuple[int, ...]


def frame_count(total: int, stream_fps: float, fps: float, max_frames: int) -> int:
    """How many of a ``total``-frame file qwen-vl-utils ``smart_nframes`` keeps at ``fps`` (≥ 2 when
    ``total`` ≥ 2; ``total`` itself below that)."""
    if total < MIN_FRAMES:
        return total
    wanted = total / stream_fps * fps
    kept = min(max(wanted, FPS_MIN_FRAMES), max_frames // 2 * 2, total)
    return max(MIN_FRAMES, math.floor(kept / 2) * 2)


def frame_picks(total: int, count: int) -> tuple[int, ...]:
    """qwen-vl-utils' frame indices: ``torch.linspace(0, total − 1, count).round()`` (float32, half to
    even); a one-frame segment repeats its frame."""
    import torch

    if total < MIN_FRAMES:
        return (0,) * MIN_FRAMES
    return tuple(int(i) for i in torch.linspace(0, total - 1, count).round().long().tolist())


def plan_segments(
    frame_times: Sequence[float], duration: float, segment_seconds: float, stream_fps: float, fps: float,
    max_frames: int,
) -> list[SegmentPlan]:  # fmt: skip
    """Cut ``[0, duration)`` into segments, give each the frames whose time falls in it, and pick."""
    plans = []
    count = max(1, math.ceil(duration / segment_seconds - _EPS))
    ordinal = 0
    for k in range(count):
        start, end = k * segment_seconds, min((k + 1) * segment_seconds, duration)
        first = ordinal
        last = k == count - 1
        while ordinal < len(frame_times) and (last or frame_times[ordinal] < end - _EPS):
            ordinal += 1
        total = ordinal - first
        if total == 0:  # no frame starts here: the one on screen (the previous one) stands for it
            first, total = max(0, first - 1), 1
        picks = frame_picks(total, frame_count(total, stream_fps, fps, max_frames))
        plans.append(SegmentPlan(k, start, end, first, total, picks))
    return plans


def probe(path: Path, max_seconds: float | None = None) -> VideoInfo:
    """Demux (without decoding) the video stream; refuse files that are damaged or have no video.
    ``max_seconds`` (``ingest.max_video_seconds``) is checked against the duration the container states
    before any packet is read, and against the packets' own span after."""
    try:
        with av.open(str(path), mode="r") as container:
            stream = _video_stream(container, path.name)
            _check_length(_stated_duration(container, stream), max_seconds, path.name)
            info = _scan(container, stream, path.name)
            _check_length(info.duration, max_seconds, path.name)
            return info
    except av.error.FFmpegError as exc:
        raise CorruptFile(f"{path.name}: cannot be read as a video ({_reason(exc)}); {_REENCODE}") from exc


def _check_length(seconds: float | None, limit: float | None, name: str) -> None:
    if seconds is not None and limit is not None and seconds > limit:
        raise LimitExceeded(
            f"{name}: the video lasts {seconds:,.0f} s, over ingest.max_video_seconds ({limit:,.0f} s); "
            "raise the limit to include it, or cut the video"
        )


def _video_stream(container: av.container.InputContainer, name: str) -> av.video.stream.VideoStream:
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:  # cover art is not video
            return stream
    raise CorruptFile(f"{name}: has no video stream (an audio-only file?)")


def _scan(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, name: str
) -> VideoInfo:
    if stream.time_base is None:
        raise CorruptFile(f"{name}: the video stream has no time base; {_REENCODE}")
    tb = Fraction(stream.time_base)
    interval = 1.0 / _rate(stream)
    first, end, stamps = _packet_span(container, stream, default_duration=max(1, round(interval / tb)))
    packets = len(stamps)
    if first is None:
        raise CorruptFile(f"{name}: the video stream has no frames")
    origin = stream.start_time if stream.start_time is not None else first
    duration = float((end - origin) * tb)
    _check_truncation(container, stream, duration, name)
    width, height = stream.codec_context.width, stream.codec_context.height
    times = tuple(max(0.0, float((stamp - origin) * tb)) for stamp in sorted(stamps))
    return VideoInfo(stream.index, tb, origin, duration, interval, packets, width, height, times)


def _packet_span(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, default_duration: int
) -> tuple[int | None, int, list[int]]:
    """First timestamp, end (timestamp + duration) and the timestamps of the stream's packets (one
    frame each), in time_base units; a packet without a duration lasts ``default_duration``."""
    first: int | None = None
    end = 0
    stamps: list[int] = []
    for packet in container.demux(stream):
        stamp = packet.pts if packet.pts is not None else packet.dts
        if stamp is None or packet.size == 0:
            continue  # flush packets and packets without any timestamp
        first = stamp if first is None else min(first, stamp)
        end = max(end, stamp + (packet.duration or default_duration))
        stamps.append(stamp)
    return first, end, stamps


def _rate(stream: av.video.stream.VideoStream) -> float:
    """Frames per second as the stream states it (1.0 when it states nothing)."""
    return float(stream.average_rate or stream.guessed_rate or 0) or 1.0


def _check_truncation(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, found: float, name: str
) -> None:
    stated = _stated_duration(container, stream)
    if stated is None:
        return
    if found < stated - TRUNCATION_TOLERANCE_S - 2.0 / _rate(stream):
        raise CorruptFile(
            f"{name}: the video is truncated: its frames stop at {found:.1f} s but the file says "
            f"{stated:.1f} s; download or export it again"
        )


def _stated_duration(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> float | None:
    """The video stream's duration as written in the header: its own field, else the Matroska
    DURATION tag, else the container's when it holds nothing but this stream."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    tag = _parse_clock(stream.metadata.get("DURATION", ""))
    if tag is not None:
        return tag
    if container.duration is not None and len(container.streams) == 1:
        return container.duration / av.time_base
    return None


def _parse_clock(text: str) -> float | None:
    match = re.fullmatch(r"(\d+):(\d\d):(\d\d(?:\.\d+)?)", text.strip())
    if not match:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def segments(path: Path, source: Source, info: VideoInfo, settings: IngestSettings) -> Iterator[SegmentUnit]:
    """Decode ``path`` once and yield its segments in order (see the module docstring)."""
    stream_fps = 1.0 / info.frame_interval
    plans = plan_segments(
        info.frame_times or (0.0,), info.duration, settings.video_segment_seconds, stream_fps,
        settings.video_fps, settings.video_max_frames,
    )  # fmt: skip
    needed: dict[int, set[int]] = {}  # ordinal → frame counts of the segments that keep it
    for plan in plans:
        for i in plan.picks:
            needed.setdefault(plan.first + i, set()).add(len(plan.picks))
    kept: dict[tuple[int, int], tuple[float, Image.Image]] = {}
    decoded = _decoded(path, info)
    ordinal = 0
    try:
        for number, plan in enumerate(plans):
            last = plan.first + max(plan.picks)
            while ordinal <= last and (item := next(decoded, None)) is not None:
                for count in needed.get(ordinal, ()):
                    kept[(ordinal, count)] = (item[0], frame_image(item[1], count, settings, path.name))
                ordinal += 1
            yield _segment(source, plan, kept, stream_fps, info.duration, path.name)
            following = plans[number + 1].first if number + 1 < len(plans) else ordinal
            for key in [key for key in kept if key[0] < following]:
                del kept[key]
    finally:
        decoded.close()


def _segment(
    source: Source,
    plan: SegmentPlan,
    kept: dict[tuple[int, int], tuple[float, Image.Image]],
    stream_fps: float,
    duration: float,
    name: str,
) -> SegmentUnit:
    n = len(plan.picks)
    chosen = [kept[(plan.first + i, n)] for i in plan.picks if (plan.first + i, n) in kept]
    if not chosen:
        raise CorruptFile(f"{name}: no video frame could be decoded; {_REENCODE}")
    chosen += [chosen[-1]] * (n - len(chosen))  # frames the decoder never gave: the last one stays
    return SegmentUnit(
        source, plan.index, plan.t_start, plan.t_end, n / plan.count * stream_fps,
        tuple(image for _, image in chosen), tuple(t for t, _ in chosen), duration,
        clip_times=tuple(i / stream_fps for i in plan.picks),
    )  # fmt: skip


Decoded = tuple[float, av.video.frame.VideoFrame]


def _decoded(path: Path, info: VideoInfo) -> Generator[Decoded, None, None]:
    """Every frame of the video stream, in presentation order, with its time in seconds."""
    t: float | None = None
    try:
        with av.open(str(path), mode="r") as container:
            stream = container.streams[info.stream_index]
            for frame in container.decode(stream):
                if not isinstance(frame, av.video.frame.VideoFrame):
                    continue
                t = frame_time(frame, info, previous=t)
                if frame.is_corrupt:
                    raise CorruptFile(
                        f"{path.name}: the decoder flags a corrupt frame at {t:.1f} s; {_REENCODE}"
                    )
                yield t, frame
    except av.error.FFmpegError as exc:
        raise CorruptFile(
            f"{path.name}: the video cannot be decoded at {t or 0.0:.1f} s ({_reason(exc)}); {_REENCODE}"
        ) from exc


def _reason(exc: av.error.FFmpegError) -> str:
    """FFmpeg's message without the file path PyAV appends (the message already names the file)."""
    return str(exc.strerror or exc)


def frame_time(frame: av.video.frame.VideoFrame, info: VideoInfo, *, previous: float | None) -> float:
    """Seconds from the start of the video; a frame without a pts is one frame interval after the
    previous frame (or at 0 when first)."""
    if frame.pts is None:
        return 0.0 if previous is None else previous + info.frame_interval
    return max(0.0, float((frame.pts - info.origin) * info.time_base))


def frame_image(
    frame: av.video.frame.VideoFrame, frames: int, settings: IngestSettings, name: str
) -> Image.Image:
    """The frame as displayed (rotation applied), RGB, resized for a segment of ``frames`` frames exactly
    as qwen-vl-utils resizes a decoded video: FFmpeg's RGB conversion at full size (decord's pixels), then
    torchvision's antialiased bicubic to ``pixels.video_frame_size``."""
    import torch

    quarter_turns = round(frame.rotation / 90) % 4  # counter-clockwise display rotation
    shown = (frame.height, frame.width) if quarter_turns % 2 else (frame.width, frame.height)
    target = video_frame_size(*shown, frames, settings.video_frame_max_pixels, name=name)
    stored = target[::-1] if quarter_turns % 2 else target
    rgb = torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1)
    image = Image.fromarray(resize_frames(rgb, stored).permute(1, 2, 0).contiguous().numpy(), "RGB")
    if quarter_turns:
        image = image.transpose(_ROTATIONS[quarter_turns])
    return image


_ROTATIONS = {1: Image.Transpose.ROTATE_90, 2: Image.Transpose.ROTATE_180, 3: Image.Transpose.ROTATE_270}
