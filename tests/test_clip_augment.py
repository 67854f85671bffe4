"""ClipAffine: the per-clip affine video augmentation of the MMV task (`sslzoo.augment.clips`)."""
import numpy as np
import pytest
import tensorflow as tf

from sslzoo.augment import ClipAffine
from sslzoo.augment.rotate import affine_transforms
from sslzoo.models import presets
from sslzoo.models.recipe import Recipe, RecipeError

SEED = tf.constant([7, 11], tf.int64)


def _forward_numpy(points, angle, scale, shift, height, width):
    """Where a frame point (x, y) lands: c + t + s R(a) (p - c), R(a) turning counter-clockwise
    as displayed (y grows downwards): x' = cos x + sin y, y' = -sin x + cos y."""
    centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    rotation = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    return centre + np.asarray(shift) + scale * (points - centre) @ rotation.T


def _apply_rows(transforms, points):
    """The input points (x, y) the output points read, by the projective rows [a0 .. b2, 0, 0]."""
    a0, a1, a2, b0, b1, b2 = transforms[:6]
    return np.stack([a0 * points[:, 0] + a1 * points[:, 1] + a2, b0 * points[:, 0] + b1 * points[:, 1] + b2], 1)


def test_rows_invert_the_forward_map():
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 32, (50, 2))
    for angle, scale, shift in ((0.3, 1.1, (2.5, -1.0)), (-0.2, 0.85, (0.0, 3.0)), (0.0, 1.0, (0.0, 0.0))):
        rows = affine_transforms(tf.constant([angle]), tf.constant([scale]), tf.constant([shift]), 32, 32)
        landed = _forward_numpy(points, angle, scale, shift, 32, 32)
        back = _apply_rows(np.asarray(rows[0], np.float64), landed)
        # float32 rows on coordinates < 64: a few float32 spacings of 64 (7.6e-6 each).
        np.testing.assert_allclose(back, points, atol=64 * 4 * np.finfo(np.float32).eps)


def test_integer_shift_moves_a_pixel_exactly():
    video = np.zeros((1, 3, 16, 16, 1), np.float32)
    video[0, :, 5, 4, 0] = 1.0  # y = 5, x = 4 in every frame
    rows = affine_transforms(tf.constant([0.0]), tf.constant([1.0]), tf.constant([[3.0, -2.0]]), 16, 16)
    moved = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.reshape(video, (3, 16, 16, 1)), transforms=tf.repeat(rows, 3, 0), output_shape=[16, 16],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT").numpy()
    expected = np.zeros((3, 16, 16, 1), np.float32)
    expected[:, 3, 7, 0] = 1.0  # x + 3, y - 2
    np.testing.assert_array_equal(moved, expected)


def _clips(batch=4, frames=5, size=24, seed=0):
    rng = np.random.default_rng(seed)
    return tf.constant(rng.uniform(0, 1, (batch, frames, size, size, 3)).astype(np.float32))


def test_every_frame_of_a_clip_moves_alike_and_clips_differ():
    still = tf.repeat(_clips(frames=1), 6, axis=1)  # each clip: one frame repeated
    moved = ClipAffine()(still, seed=SEED).numpy()
    assert moved.shape == (4, 6, 24, 24, 3)
    for t in range(1, 6):
        np.testing.assert_array_equal(moved[:, t], moved[:, 0])
    # One draw per clip: the same picture in two clips of the batch comes out differently.
    twins = tf.repeat(still[:1], 4, axis=0)
    out = ClipAffine()(twins, seed=SEED).numpy()
    assert np.abs(out[0] - out[1]).max() > 0.1


def test_seeded_draws_repeat_and_differ_across_seeds():
    clips = _clips()
    augment = ClipAffine()
    first, again = augment(clips, seed=SEED).numpy(), augment(clips, seed=SEED).numpy()
    np.testing.assert_array_equal(first, again)
    other = augment(clips, seed=tf.constant([7, 12], tf.int64)).numpy()
    assert np.abs(first - other).max() > 0.1
    stream_a, stream_b = ClipAffine(seed=3), ClipAffine(seed=3)
    np.testing.assert_array_equal(stream_a(clips).numpy(), stream_b(clips).numpy())


def test_identity_settings_return_the_clips():
    clips = _clips()
    out = ClipAffine(rotation_degrees=0, scale_range=(1, 1), max_shift=0)(clips, seed=SEED)
    np.testing.assert_array_equal(out.numpy(), clips.numpy())


def test_motion_is_kept():
    # A dot stepping right by 2 px a frame still steps by 2 px after a pure zoom-free shift.
    video = np.zeros((1, 4, 20, 20, 1), np.float32)
    for t in range(4):
        video[0, t, 10, 4 + 2 * t, 0] = 1.0
    out = ClipAffine(rotation_degrees=0, scale_range=(1, 1), max_shift=0.2, fill_mode="constant")(video, seed=SEED)
    frames = out.numpy()[0, ..., 0]
    assert frames.sum(axis=(1, 2)).min() > 0.99  # the dot stays inside every frame
    # Bilinear reads split the dot over neighbours; their weighted column is the dot's x.
    centres = [(frame.sum(axis=0) * np.arange(20)).sum() / frame.sum() for frame in frames]
    np.testing.assert_allclose(np.diff(centres), 2.0, atol=1e-4)


@pytest.mark.parametrize("kwargs, message", [
    ({"rotation_degrees": -1}, "rotation_degrees"),
    ({"scale_range": (1.2, 0.8)}, "scale_range"),
    ({"scale_range": (0.0, 1.0)}, "scale_range"),
    ({"scale_range": 1.0}, "scale_range"),
    ({"max_shift": 2.0}, "max_shift"),
    ({"fill_mode": "wrap"}, "fill_mode"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ClipAffine(**kwargs)


def test_a_batch_that_is_not_video_is_refused():
    with pytest.raises(ValueError, match="video"):
        ClipAffine()(tf.zeros((2, 8, 8, 3)), seed=SEED)


def test_recipes_pair_clip_affine_with_the_mmv_task_only():
    mmv = presets.PRESETS["mmv_avdigits"]
    assert mmv.augment["kind"] == "clip_affine"
    with pytest.raises(RecipeError, match="augment.rotation"):
        mmv.replace(augment={"kind": "clip_affine", "rotation": 10})
    with pytest.raises(RecipeError, match="does not fit task"):
        presets.PRESETS["simclr_digits"].replace(augment={"kind": "clip_affine"})
    with pytest.raises(RecipeError, match="does not fit task"):
        mmv.replace(augment={"kind": "simclr"})
    assert isinstance(mmv.replace(augment=None), Recipe)
