"""Rendering for AV-digits (`sslzoo.data.av_digits`): a moving digit and its sound.

All functions are numpy only and draw every random number from the `rng` they are
given, so one clip's content depends on its own seed alone.
"""
import numpy as np

# A telephone keypad's DTMF pairs: digit d sounds LOW[row] + HIGH[col] Hz.
DTMF_LOW = (697.0, 770.0, 852.0, 941.0)
DTMF_HIGH = (1209.0, 1336.0, 1477.0)
DIRECTION_STEPS = ((0, -1), (0, 1), (-1, 0), (1, 0))  # (dy, dx): left, right, up, down


def dtmf_pair(digit):
    """The keypad's two frequencies (Hz) for a digit 0-9 (0 sits below 8)."""
    row, col = (3, 1) if digit == 0 else divmod(digit - 1, 3)
    return DTMF_LOW[row], DTMF_HIGH[col]


def speed_profile(rng, num_frames):
    """(num_frames,) non-negative speeds: a slow wave between 0.15 and 1, speed[0] = 0."""
    t = np.arange(num_frames - 1) / (num_frames - 1)
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.5, 1.5) * t + rng.uniform(0, 2 * np.pi))
    return np.concatenate([[0.0], 0.15 + 0.85 * wave])


def _place(frame, digit, colour, y, x):
    """Draws `digit` * `colour` at the sub-pixel position (y, x) of `frame` (bilinear), in place."""
    side = digit.shape[0]
    y0, x0 = int(np.floor(y)), int(np.floor(x))
    fy, fx = y - y0, x - x0
    patch = np.zeros((side + 1, side + 1))
    for dy, dx, weight in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        patch[dy:dy + side, dx:dx + side] += weight * digit
    height = min(side + 1, frame.shape[0] - y0)
    width = min(side + 1, frame.shape[1] - x0)
    window = frame[y0:y0 + height, x0:x0 + width]
    np.maximum(window, patch[:height, :width, None] * colour, out=window)


def render_video(rng, digit, direction, speeds, canvas=32, num_distractors=3):
    """A digit crossing the canvas in `direction`, on noise, with moving distractor dots.

    Args:
      rng: numpy Generator.
      digit: float (d, d) in [0, 1], d < canvas.
      direction: 0 left, 1 right, 2 up, 3 down.
      speeds: (T,) per-frame speeds; positions (sub-pixel) are their running sum
        scaled so the digit travels from one edge to the other.
    Returns:
      uint8 (T, canvas, canvas, 3).
    """
    num_frames, side = len(speeds), digit.shape[0]
    travel = canvas - side - 1
    progress = np.cumsum(speeds) / np.sum(speeds)
    dy, dx = DIRECTION_STEPS[direction]
    along = travel * np.clip(progress if dy + dx > 0 else 1 - progress, 0.0, 1.0)
    across = np.full(num_frames, rng.uniform(0, travel))
    ys, xs = (along, across) if dy else (across, along)
    colour = rng.uniform(0.55, 1.0, 3)
    background = rng.uniform(0.0, 0.2, 3)
    frames = background + rng.normal(0.0, rng.uniform(0.02, 0.08), (num_frames, canvas, canvas, 3))
    dots = rng.integers(0, canvas - 2, (num_distractors, 2)).astype(float)
    dot_steps = rng.normal(0.0, 1.5, (num_frames, num_distractors, 2))
    dot_levels = rng.uniform(0.2, 0.45, num_distractors)
    for t in range(num_frames):
        _place(frames[t], digit, colour, ys[t], xs[t])
        dots = np.clip(dots + dot_steps[t], 0, canvas - 2)
        for (y, x), level in zip(dots.astype(int), dot_levels):
            frames[t, y:y + 2, x:x + 2] = level
    return np.clip(frames * 255.0 + 0.5, 0, 255).astype(np.uint8)


def render_audio(rng, digit, speeds, fps, sample_rate):
    """The digit's two-tone chord, loudness following the speed of the motion.

    Each frequency is jittered by up to 3 %, the chord starts after a random onset
    (0-0.3 s), and Gaussian noise of a random level is added.

    Args:
      speeds: (T,) per-frame speeds (as `render_video`); the amplitude envelope is
        0.05 + 0.75 * speed / max(speed), interpolated between frame times.
    Returns:
      float32 (round(T / fps * sample_rate),) in [-1, 1].
    """
    num_samples = int(round(len(speeds) / fps * sample_rate))
    t = np.arange(num_samples) / sample_rate
    low, high = (f * rng.uniform(0.97, 1.03) for f in dtmf_pair(digit))
    chord = 0.5 * (np.sin(2 * np.pi * low * t + rng.uniform(0, 2 * np.pi))
                   + np.sin(2 * np.pi * high * t + rng.uniform(0, 2 * np.pi)))
    frame_times = (np.arange(len(speeds)) + 0.5) / fps
    envelope = 0.05 + 0.75 * np.interp(t, frame_times, speeds / np.max(speeds))
    onset = t >= rng.uniform(0.0, 0.3)
    noise = rng.normal(0.0, rng.uniform(0.005, 0.05), num_samples)
    return np.clip(chord * envelope * onset + noise, -1.0, 1.0).astype(np.float32)
