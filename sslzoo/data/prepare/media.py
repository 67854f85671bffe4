"""Media on disk: find a video by id, decode a span with PyAV into frames and audio."""
import glob
import os

import numpy as np

from sslzoo.data.prepare.errors import MediaError

EXTENSIONS = ("mp4", "mkv", "webm", "avi", "mov", "m4a", "wav", "flac", "mp3")


def find_media(media_dir, video_id, path_template=None):
    """The media file of `video_id`: `path_template` ("{media_dir}/{id}.mp4"), else any common extension.

    Raises:
      MediaError: when no file is found.
    """
    if path_template:
        path = path_template.format(media_dir=media_dir, id=video_id, video_id=video_id)
        if os.path.isfile(path):
            return path
        raise MediaError(f"media not found: {path}")
    for extension in EXTENSIONS:
        path = os.path.join(media_dir, f"{video_id}.{extension}")
        if os.path.isfile(path):
            return path
    matches = sorted(glob.glob(os.path.join(glob.escape(media_dir), glob.escape(video_id) + ".*")))
    if matches:
        return matches[0]
    raise MediaError(f"media not found for id {video_id!r} in {media_dir} (tried {', '.join(EXTENSIONS)})")


def _resize_dims(width, height, short_side):
    scale = short_side / min(width, height)
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def probe_duration(path):
    """The media's duration in seconds (container, else longest stream), or None."""
    import av

    with av.open(path) as container:
        if container.duration is not None:
            return container.duration / 1e6
        lengths = [float(s.duration * s.time_base) for s in container.streams if s.duration]
        return max(lengths) if lengths else None


def decode_span(path, start=0.0, end=None, fps=10, short_side=256, sample_rate=48000, frame_transform=None):
    """Decodes [start, end) s of `path`: frames at `fps` and mono float32 audio at `sample_rate`.

    Frame k is the first decoded frame at or after `start + k / fps` (within half a
    source frame); frames are resized so the short side is `short_side` (aspect kept).
    `frame_transform` (e.g. JPEG encoding) is applied to each uint8 (H, W, 3) frame as
    it is decoded, so a long video never holds all its raw frames in memory.

    Returns:
      (frames uint8 (T, H, W, 3), or the list of T transformed frames, or None when
         the file has no video stream,
       audio float32 (N,) or None when it has no audio stream,
       seconds: the span's decoded length).
    Raises:
      MediaError: the file is missing, undecodable, or yields nothing in the span.
    """
    import av

    if not os.path.isfile(path):
        raise MediaError(f"media not found: {path}")
    try:
        container = av.open(path)
    except av.FFmpegError as e:
        raise MediaError(f"cannot open: {e}") from e
    with container:
        declared = container.duration / 1e6 if container.duration else None
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise MediaError("no video or audio stream")
        streams = [s for s in (video, audio) if s is not None]
        if start > 0:  # a second early, so the audio packet holding `start` is decoded too
            container.seek(int(max(0.0, start - 1.0) * 1e6), any_frame=False, backward=True)
        half_frame = 0.5 / float(video.average_rate) if video is not None and video.average_rate else 0.02
        frames, target, size = [], start, None
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate) if audio else None
        chunks, audio_time = [], None
        video_done = video is None
        audio_done = audio is None
        try:
            for packet in container.demux(*streams):
                if (packet.stream is video and video_done) or (packet.stream is audio and audio_done):
                    continue
                for frame in packet.decode():
                    if frame.time is None:
                        continue
                    if packet.stream is video and not video_done:
                        if end is not None and frame.time >= end:
                            video_done = True
                            continue
                        if frame.time + half_frame < target:
                            continue
                        size = size or _resize_dims(frame.width, frame.height, short_side)
                        rgb = frame.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray()
                        if frame_transform is not None:
                            rgb = frame_transform(rgb)
                        while frame.time + half_frame >= target and (end is None or target < end):
                            frames.append(rgb)
                            target = start + len(frames) / fps
                    elif packet.stream is audio and not audio_done:
                        if end is not None and frame.time >= end:
                            audio_done = True
                            continue
                        if audio_time is None:
                            audio_time = frame.time
                        chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
                if video_done and audio_done:
                    break
            if resampler is not None and audio_time is not None:
                chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
        except av.FFmpegError as e:
            if not frames and not chunks:
                raise MediaError(f"undecodable: {e}") from e
            raise MediaError(f"truncated or corrupt after {len(frames)} frames: {e}") from e
    if video is not None and not frames:
        raise MediaError(f"no video frames in [{start}, {end}) s")
    if declared is not None and frames:
        wanted = min(declared, end) if end is not None else declared
        got = start + len(frames) / fps
        if got < wanted - max(2.0 / fps, 0.25):
            raise MediaError(f"truncated: frames end at {got:.2f} s, the file declares {wanted:.2f} s")
    waveform = None
    if audio is not None and chunks:
        samples = np.concatenate(chunks).astype(np.float32)
        lead = int(round((audio_time - start) * sample_rate))
        if lead > 0:  # the audio stream starts after the span: pad its beginning with silence
            samples = np.concatenate([np.zeros(lead, np.float32), samples])
        first = max(0, -lead)
        last = None if end is None else first + int(round((end - start) * sample_rate))
        waveform = samples[first:last]
    if frames:
        seconds = len(frames) / fps
    else:
        seconds = 0.0 if waveform is None else len(waveform) / sample_rate
    if video is None and (waveform is None or not len(waveform)):
        raise MediaError(f"no audio samples in [{start}, {end}) s")
    if not frames:
        return None, waveform, seconds
    return (frames if frame_transform is not None else np.stack(frames)), waveform, seconds
