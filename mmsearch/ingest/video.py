"""Videos → ``SegmentUnit``s of ``video_segment_seconds``, sampled at ``video_fps``, with PyAV.

Two sequential, seek-free passes over the file:

1. ``probe`` demuxes the video stream without decoding it (cheap: no pixels) to learn where the video
   really ends, and refuses damaged containers before any unit is produced: no video stream, no
   packets, a demuxer error, or packets that stop short of the duration the container states
   (a truncated download) → ``CorruptFile``.
2. ``segments`` decodes once, front to back, and yields each segment as soon as its last frame is
   decoded, so only one segment's frames are held at a time.

Sampling. Segment ``k`` covers ``[k·S, min((k+1)·S, duration))``; the last one is shorter and a short
video is one segment. Sample times start at each segment's ``t_start`` and step ``1/video_fps`` seconds,
unless a full segment would then exceed ``video_max_frames``: the step becomes ``S/video_max_frames``
(linear subsampling) and the unit records that real rate in ``fps``. Every segment of a video uses the
same step. The frame taken for sample time T is the one on screen at T (the last with timestamp ≤ T);
``frame_times`` are that frame's true presentation time, ``(pts - start) · time_base``, in seconds
from the start of the video. Frames keep the display rotation of phone videos, and are scaled onto
the model grid within ``video_frame_max_pixels``.

One-frame segments: Qwen3-VL merges frames in temporal pairs (temporal patch 2), so a segment needs
≥ 2 frames. A segment with a single sample (a video shorter than one sampling step, or a last segment
that short) repeats that frame: ``frames`` has it twice and ``frame_times`` its time twice.

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
from itertools import islice
from pathlib import Path

import av
import av.container
import av.error
import av.stream
import av.video.frame
import av.video.stream
from PIL import Image

from mmsearch.errors import CorruptFile, LimitExceeded
from mmsearch.ingest.pixels import fit_size
from mmsearch.ingest.settings import IngestSettings
from mmsearch.ingest.units import SegmentUnit, Source

MIN_FRAMES = 2  # Qwen3-VL temporal patch size
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


@dataclass(frozen=True)
class SegmentPlan:
    """A segment before decoding: its span and the times at which frames are sampled."""

    index: int
    t_start: float
    t_end: float
    times: tuple[float, ...]


def sampling_step(segment_seconds: float, fps: float, max_frames: int) -> float:
    """Seconds between samples: ``1/fps``, widened so a full segment holds at most ``max_frames``."""
    return max(1.0 / fps, segment_seconds / max_frames)


def plan_segments(duration: float, segment_seconds: float, step: float) -> list[SegmentPlan]:
    """Cut ``[0, duration)`` into segments and lay sample times ``t_start + i·step`` inside each."""
    plans = []
    count = max(1, math.ceil(duration / segment_seconds - _EPS))
    for k in range(count):
        start, end = k * segment_seconds, min((k + 1) * segment_seconds, duration)
        n = max(1, math.ceil((end - start) / step - _EPS))
        plans.append(SegmentPlan(k, start, end, tuple(start + i * step for i in range(n))))
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
    first, end, packets = _packet_span(container, stream, default_duration=max(1, round(interval / tb)))
    if first is None:
        raise CorruptFile(f"{name}: the video stream has no frames")
    origin = stream.start_time if stream.start_time is not None else first
    duration = float((end - origin) * tb)
    _check_truncation(container, stream, duration, name)
    width, height = stream.codec_context.width, stream.codec_context.height
    return VideoInfo(stream.index, tb, origin, duration, interval, packets, width, height)


def _packet_span(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, default_duration: int
) -> tuple[int | None, int, int]:
    """First timestamp, end (timestamp + duration) and count of the stream's packets, in time_base
    units; a packet without a duration lasts ``default_duration``."""
    first: int | None = None
    end, packets = 0, 0
    for packet in container.demux(stream):
        stamp = packet.pts if packet.pts is not None else packet.dts
        if stamp is None or packet.size == 0:
            continue  # flush packets and packets without any timestamp
        first = stamp if first is None else min(first, stamp)
        end = max(end, stamp + (packet.duration or default_duration))
        packets += 1
    return first, end, packets


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
    step = sampling_step(settings.video_segment_seconds, settings.video_fps, settings.video_max_frames)
    plans = plan_segments(info.duration, settings.video_segment_seconds, step)
    picks = displayed_at(_decoded(path, info), [t for plan in plans for t in plan.times])
    try:
        for plan in plans:
            chosen = list(islice(picks, len(plan.times)))
            if not chosen:
                raise CorruptFile(f"{path.name}: no video frame could be decoded; {_REENCODE}")
            frames, times = _frames(chosen, settings, path.name)
            yield SegmentUnit(
                source, plan.index, plan.t_start, plan.t_end, 1.0 / step, frames, times, info.duration
            )
    finally:
        picks.close()


def _frames(
    chosen: Sequence[tuple[float, av.video.frame.VideoFrame]], settings: IngestSettings, name: str
) -> tuple[tuple[Image.Image, ...], tuple[float, ...]]:
    converted: dict[int, Image.Image] = {}  # a frame on screen for several samples is converted once
    images = []
    for _, frame in chosen:
        if id(frame) not in converted:
            converted[id(frame)] = frame_image(frame, settings.video_frame_max_pixels, name=name)
        images.append(converted[id(frame)])
    times = [t for t, _ in chosen]
    if len(images) < MIN_FRAMES:  # the model's temporal patch needs a pair: repeat the frame
        images, times = images * MIN_FRAMES, times * MIN_FRAMES
    return tuple(images), tuple(times)


Decoded = tuple[float, av.video.frame.VideoFrame]


def displayed_at(frames: Iterator[Decoded], times: Sequence[float]) -> Generator[Decoded, None, None]:
    """For each sample time (ascending), the frame on screen then: the last with timestamp ≤ T
    (the first frame when T precedes it; the last frame for times after the stream ends).
    Stops pulling frames once the last sample time is passed."""
    pending = iter(times)
    target = next(pending, None)
    previous: Decoded | None = None
    try:
        for decoded in frames:
            while target is not None and decoded[0] > target + _EPS:
                yield previous or decoded
                target = next(pending, None)
            if target is None:
                return
            previous = decoded
        while target is not None and previous is not None:
            yield previous
            target = next(pending, None)
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()


def _decoded(path: Path, info: VideoInfo) -> Iterator[Decoded]:
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


def frame_image(frame: av.video.frame.VideoFrame, max_pixels: int, *, name: str) -> Image.Image:
    """The frame as displayed (rotation applied), RGB, on the model grid within ``max_pixels``."""
    quarter_turns = round(frame.rotation / 90) % 4  # counter-clockwise display rotation
    width, height = frame.width, frame.height
    shown = (height, width) if quarter_turns % 2 else (width, height)
    target = fit_size(*shown, max_pixels, name=name)
    stored = target[::-1] if quarter_turns % 2 else target
    image = frame.to_image(width=stored[0], height=stored[1], interpolation="AREA")
    if quarter_turns:
        image = image.transpose(_ROTATIONS[quarter_turns])
    return image


_ROTATIONS = {1: Image.Transpose.ROTATE_90, 2: Image.Transpose.ROTATE_180, 3: Image.Transpose.ROTATE_270}
