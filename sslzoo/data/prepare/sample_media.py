"""Tiny media files with known content, for tests, benchmarks and examples (PyAV).

Frame k is a uniform grey of level `20 + 12 k` (mod 256), so a decoded frame tells
which source frame it is; audio sample i is `i / 1e5` (stored losslessly as
pcm_f32le), so a decoded sample tells its offset.
"""
import fractions

import numpy as np


def grey_level(k):
    """The grey level of source frame k."""
    return (20 + 12 * k) % 256


def write_sample_media(path, num_frames=16, fps=20, size=(40, 32), sample_rate=8000, video=True, audio=True,
                       video_codec="mpeg4"):
    """Writes a media file: `num_frames` frames at `fps` of `size` (W, H), mono audio of the same length.

    The container is chosen by the extension (.mkv takes pcm_f32le audio; .mp4 should
    be written with `audio=False` or accept that audio is dropped).
    """
    import av

    with av.open(path, mode="w") as container:
        streams = []
        if video:  # every stream is added before the first packet is muxed
            video_stream = container.add_stream(video_codec, rate=fps)
            video_stream.width, video_stream.height = size
            video_stream.pix_fmt = "yuv420p"
            streams.append(video_stream)
        if audio:
            audio_stream = container.add_stream("pcm_f32le", rate=sample_rate)
            audio_stream.layout = "mono"
            streams.append(audio_stream)
        if video:
            for k in range(num_frames):
                frame = av.VideoFrame.from_ndarray(np.full((size[1], size[0], 3), grey_level(k), np.uint8),
                                                   format="rgb24")
                frame.pts, frame.time_base = k, fractions.Fraction(1, fps)
                container.mux(video_stream.encode(frame))
        if audio:
            samples = (np.arange(int(round(num_frames / fps * sample_rate))) / 1e5).astype(np.float32)
            for i in range(0, len(samples), 1024):
                frame = av.AudioFrame.from_ndarray(samples[None, i:i + 1024], format="flt", layout="mono")
                frame.sample_rate, frame.pts = sample_rate, i
                frame.time_base = fractions.Fraction(1, sample_rate)
                container.mux(audio_stream.encode(frame))
        for stream in streams:
            container.mux(stream.encode())
    return path
