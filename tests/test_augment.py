"""sslzoo.augment: shapes, ranges, sampler statistics, determinism, numerics vs numpy."""
import colorsys
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from sslzoo import augment
from sslzoo.augment import color

SEED = tf.constant([3, 4], tf.int64)


# Tolerances here (pixels are float32 in [0, 1], eps32 = 1.2e-7):
#   PIX1  atol 1e-6: a few float32 ops per pixel (bilinear weights summing to 1, a 2x2 mean,
#         a copy): <= ~4 eps32 x 1 = 5e-7.
#   PIX5  atol/threshold 1e-5: a chain of ~10-80 float32 ops per pixel (colour jitter's HSV
#         round trip, a 3x3/7-tap blur, a rotation's bilinear resample) vs float64 numpy:
#         <= 80 eps32 = 1e-5. oneDNN on/off does not touch these element-wise ops.
#   XLA   atol 2e-5: XLA fuses the jitter chain and may use its own exp/div/rounding: 2x PIX5.
#   BINOM binomial_tolerance(p, n): a Bernoulli(p) frequency over n draws, a few standard
#         deviations sqrt(p (1 - p) / n) wide (see its definition).
#   Thresholds > 0.01-0.1 on view differences are "did anything happen" checks: a no-op
#   augmentation gives exactly 0.

def binomial_tolerance(p, n, sigmas=4.5):
    return sigmas * np.sqrt(p * (1 - p) / n) + 1e-9


def plain(image_size=16, **kwargs):
    """An augmenter with every random step off unless switched on by kwargs."""
    recipe = {"crop_area": (1.0, 1.0), "aspect_ratio": (1.0, 1.0), "flip_prob": 0.0, "jitter_prob": 0.0,
              "grayscale_prob": 0.0, "blur_prob": 0.0, "solarize_prob": 0.0, "jit_compile": False,
              "seed": 0}
    return augment.SimCLRAugment(image_size, **{**recipe, **kwargs})


# --- outputs -------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["uint8", "float32"])
@pytest.mark.parametrize("channels", [1, 3])
def test_views_shape_dtype_range(dtype, channels):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 20, 20, channels)).astype(np.uint8)
    if dtype == "float32":
        images = images.astype(np.float32) / 255.0
    view_1, view_2 = augment.SimCLRAugment(16, seed=0, jit_compile=False)(images)
    for view in (view_1, view_2):
        assert view.shape == (4, 16, 16, 3) and view.dtype == tf.float32
        assert 0.0 <= float(tf.reduce_min(view)) and float(tf.reduce_max(view)) <= 1.0
    assert not np.allclose(view_1, view_2)
    if channels == 1:  # grey input stays grey through jitter, blur and solarize
        np.testing.assert_allclose(view_1[..., 0], view_1[..., 2], atol=1e-5)  # tolerance: PIX5


def test_dataset_map_in_graph_mode_with_xla_gives_fresh_views_each_batch():
    images = np.random.default_rng(1).integers(0, 256, (8, 20, 20, 3)).astype(np.uint8)
    dataset = tf.data.Dataset.from_tensor_slices(np.concatenate([images, images]))
    dataset = dataset.batch(8).map(augment.SimCLRAugment(16, seed=0))  # XLA jitter block
    spec = dataset.element_spec
    assert [s.shape.as_list() for s in spec] == [[None, 16, 16, 3]] * 2
    (first, first_2), (second, _) = list(dataset)
    assert 0.0 <= float(tf.reduce_min(first)) and float(tf.reduce_max(first)) <= 1.0
    assert not np.allclose(first, second)  # same images, next call: new views
    # The XLA block changes nothing but speed: an eager, un-jitted twin gives the same views.
    eager_1, eager_2 = augment.SimCLRAugment(16, seed=0, jit_compile=False)(images)
    np.testing.assert_allclose(first, eager_1, atol=2e-5)  # tolerance: XLA
    np.testing.assert_allclose(first_2, eager_2, atol=2e-5)  # tolerance: XLA


def test_multicrop_shapes_globals_first():
    images = np.random.default_rng(2).integers(0, 256, (3, 24, 24, 1)).astype(np.uint8)
    crops = augment.MultiCrop(16, 8, num_local=3, seed=0, jit_compile=False)(images)
    assert [tuple(c.shape) for c in crops] == [(3, 16, 16, 3)] * 2 + [(3, 8, 8, 3)] * 3
    assert all(c.dtype == tf.float32 and float(tf.reduce_max(c)) <= 1.0 for c in crops)
    assert len(augment.MultiCrop(16, 8, num_local=0, jit_compile=False)(images)) == 2


# --- crops ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("area_range", [(0.08, 1.0), (0.05, 0.14)])
def test_crop_boxes_area_and_aspect_within_ranges(area_range):
    n, side = 2000, 256
    boxes = tf.function(augment.sample_crop_boxes)(SEED, n, side, side, area_range, (3 / 4, 4 / 3)).numpy()
    top, left, bottom, right = boxes.T
    assert boxes.min() >= 0.0 and boxes.max() <= 1.0
    heights, widths = (bottom - top) * side, (right - left) * side
    area, aspect = heights * widths / side**2, widths / heights
    assert area.min() >= area_range[0] - 1e-6 and area.max() <= area_range[1] + 1e-6
    rounding = 0.5 / heights  # widths are whole pixels
    assert np.all(aspect >= 3 / 4 - rounding) and np.all(aspect <= 4 / 3 + rounding)
    span = area_range[1] - area_range[0]  # the draws cover the range, not one corner of it
    assert area.min() < area_range[0] + 0.1 * span and area.max() > area_range[1] - 0.2 * span
    assert np.unique(top).size > 50 and np.unique(left).size > 50


def test_crop_and_resize_boxes_identity_flip_and_downsample():
    images = np.random.default_rng(3).random((2, 8, 8, 3)).astype(np.float32)
    whole = tf.constant([[0.0, 0.0, 1.0, 1.0]] * 2)
    index = tf.range(2)
    same = augment.crop_and_resize_boxes(images, whole, index, 8)
    np.testing.assert_allclose(same, images, atol=1e-6)  # tolerance: PIX1
    flipped = augment.crop_and_resize_boxes(images, whole, index, 8, flip=tf.constant([True, False]))
    np.testing.assert_allclose(flipped[0], images[0, :, ::-1], atol=1e-6)  # tolerance: PIX1
    np.testing.assert_allclose(flipped[1], images[1], atol=1e-6)  # tolerance: PIX1
    # Half-pixel-centre bilinear at half size = mean of each 2x2 block.
    half = augment.crop_and_resize_boxes(images, whole, index, 4)
    blocks = images.reshape(2, 4, 2, 4, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(half, blocks, atol=1e-6)  # tolerance: PIX1
    # The top-left quarter at the source resolution is that quarter's pixels.
    quarter = augment.crop_and_resize_boxes(images, tf.constant([[0.0, 0.0, 0.5, 0.5]] * 2), index, 4)
    np.testing.assert_allclose(quarter, images[:, :4, :4], atol=1e-6)  # tolerance: PIX1


def test_flip_fraction():
    n = 800
    images = np.random.default_rng(4).random((n, 6, 6, 1)).astype(np.float32)
    out = augment.random_resized_crop(images, 6, SEED, (1.0, 1.0), (1.0, 1.0), flip_prob=0.3).numpy()
    mirrored = np.all(np.abs(out - images[:, :, ::-1]) < 1e-5, axis=(1, 2, 3))  # tolerance: PIX5
    unchanged = np.all(np.abs(out - images) < 1e-5, axis=(1, 2, 3))  # tolerance: PIX5
    assert np.all(mirrored ^ unchanged)
    assert abs(mirrored.mean() - 0.3) < binomial_tolerance(0.3, n)


# --- colour and blur numerics vs numpy -----------------------------------------------------------

def numpy_gray(x):
    return x @ np.array([0.2989, 0.587, 0.114], np.float32)


def numpy_hue(x, deltas):
    out = np.empty_like(x)
    for b, i, j in np.ndindex(x.shape[:3]):
        h, s, v = colorsys.rgb_to_hsv(*x[b, i, j])
        out[b, i, j] = colorsys.hsv_to_rgb((h + deltas[b]) % 1.0, s, v)
    return out


def numpy_jitter(x, name, f):
    """torchvision's definitions, clipped to [0, 1]; f has one value per image."""
    fb = f[:, None, None, None]
    if name == "brightness":
        out = x * fb
    elif name == "contrast":
        out = fb * x + (1 - fb) * numpy_gray(x).mean(axis=(1, 2))[:, None, None, None]
    elif name == "saturation":
        out = fb * x + (1 - fb) * numpy_gray(x)[..., None]
    else:
        out = numpy_hue(x, f)
    return np.clip(out, 0, 1)


@pytest.mark.parametrize("name", color.JITTER_ORDER)
def test_jitter_ops_match_numpy_formulas(name):
    x = np.random.default_rng(5).random((3, 4, 5, 3)).astype(np.float32)
    f = np.array([-0.2, 0.0, 0.35] if name == "hue" else [0.5, 1.0, 1.6], np.float32)
    adjust = getattr(color, f"adjust_{name}")
    np.testing.assert_allclose(adjust(x, f), numpy_jitter(x, name, f), atol=1e-5)  # tolerance: PIX5


def test_color_jitter_follows_the_given_order():
    x = np.random.default_rng(6).random((2, 3, 4, 3)).astype(np.float32)
    factors = {"brightness": np.array([1.5, 0.7], np.float32), "contrast": np.array([0.4, 1.3], np.float32),
               "saturation": np.array([0.2, 1.8], np.float32), "hue": np.array([0.3, -0.1], np.float32)}
    for order in ([3, 1, 0, 2], [0, 1, 2, 3]):
        expected = x
        for index in order:
            name = color.JITTER_ORDER[index]
            expected = numpy_jitter(expected, name, factors[name])
        out = color.color_jitter(tf.constant(x), factors, tf.constant(order))
        np.testing.assert_allclose(out, expected, atol=1e-5)  # tolerance: PIX5


def test_jitter_factors_ranges_and_probability():
    n, strength, prob = 4000, 0.5, 0.8
    factors = {k: v.numpy() for k, v in color.sample_jitter_factors(SEED, n, strength, prob).items()}
    applied = factors["applied"]
    assert abs(applied.mean() - prob) < binomial_tolerance(prob, n)
    for name in ("brightness", "contrast", "saturation"):
        drawn = factors[name][applied]
        assert drawn.min() >= 1 - 0.8 * strength and drawn.max() <= 1 + 0.8 * strength
        assert drawn.min() < 0.65 and drawn.max() > 1.35  # spans [0.6, 1.4]
        np.testing.assert_array_equal(factors[name][~applied], 1.0)
    # hue factors are uniform in [-0.2 s, 0.2 s]; over the applied draws the max exceeds 0.09 unless the range shrank
    assert np.abs(factors["hue"]).max() <= 0.2 * strength and np.abs(factors["hue"][applied]).max() > 0.09
    np.testing.assert_array_equal(factors["hue"][~applied], 0.0)


def numpy_blur(image, sigma, radius):
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(image, ((radius, radius), (radius, radius), (0, 0)), mode="reflect")
    height, width = image.shape[:2]
    rows = sum(kernel[k] * padded[k:k + height] for k in range(2 * radius + 1))
    return sum(kernel[k] * rows[:, k:k + width] for k in range(2 * radius + 1))


def test_gaussian_blur_per_image_sigma_matches_numpy():
    images = np.random.default_rng(6).random((3, 9, 7, 3)).astype(np.float32)
    sigma = np.array([0.3, 1.0, 2.0], np.float32)
    out = augment.gaussian_blur(images, sigma, radius=3).numpy()
    for b in range(3):
        np.testing.assert_allclose(out[b], numpy_blur(images[b], sigma[b], 3), atol=1e-5)  # tolerance: PIX5


# --- probabilities over many draws ---------------------------------------------------------------

def test_grayscale_solarize_blur_fractions():
    n = 1500
    rng = np.random.default_rng(7)
    colourful = tf.constant(rng.random((n, 4, 4, 3)), tf.float32)
    out, applied = color.random_grayscale(colourful, SEED, 0.2)
    is_gray = np.all(np.ptp(out.numpy(), axis=-1) < 1e-6, axis=(1, 2))  # tolerance: PIX1
    np.testing.assert_array_equal(is_gray, applied.numpy())
    assert abs(is_gray.mean() - 0.2) < binomial_tolerance(0.2, n)

    bright = tf.fill((n, 4, 4, 3), 0.8)
    out, _ = color.random_solarize(bright, SEED, 0.3)
    solarized = np.all(np.abs(out.numpy() - 0.2) < 1e-6, axis=(1, 2, 3))  # tolerance: PIX1
    assert np.all(solarized | np.all(np.abs(out.numpy() - 0.8) < 1e-6, axis=(1, 2, 3)))  # tolerance: PIX1
    assert abs(solarized.mean() - 0.3) < binomial_tolerance(0.3, n)

    checkers = tf.constant(np.indices((6, 6)).sum(0)[None, :, :, None] % 2 * np.ones((n, 1, 1, 3)), tf.float32)
    out, _ = augment.random_gaussian_blur(checkers, SEED, 0.4, radius=1, sigma_range=(0.5, 2.0))
    blurred = np.any(np.abs(out.numpy() - checkers.numpy()) > 1e-3, axis=(1, 2, 3))
    assert abs(blurred.mean() - 0.4) < binomial_tolerance(0.4, n)


def test_per_view_blur_and_solarize_probabilities():
    checkers = (np.indices((16, 16)).sum(0) % 2 * 255).astype(np.uint8)
    images = np.repeat(checkers[None, :, :, None], 6, axis=0)
    view_1, view_2 = plain(blur_prob=(1.0, 0.0), blur_sigma=(1.0, 2.0))(images)
    source = images.astype(np.float32) / 255.0
    np.testing.assert_allclose(view_2[..., :1], source, atol=1e-5)  # never blurred (tolerance: PIX5)
    assert np.all(np.abs(view_1[..., :1] - source).max(axis=(1, 2, 3)) > 0.05)  # always blurred
    bright = np.full((6, 16, 16, 3), 204, np.uint8)  # 0.8
    view_1, view_2 = plain(solarize_prob=(0.0, 1.0))(bright)
    np.testing.assert_allclose(view_1, 0.8, atol=1e-5)  # tolerance: PIX5
    np.testing.assert_allclose(view_2, 0.2, atol=1e-5)  # tolerance: PIX5


# --- determinism, config, presets ----------------------------------------------------------------

def test_same_seed_same_views_and_calls_differ():
    images = np.random.default_rng(8).integers(0, 256, (4, 20, 20, 3)).astype(np.uint8)
    first, second = (augment.SimCLRAugment(16, seed=11, jit_compile=False) for _ in range(2))
    a1, a2 = first(images)
    b1, b2 = second(images)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    c1, _ = first(images)  # the stream moved on
    assert not np.allclose(a1, c1)
    other, _ = augment.SimCLRAugment(16, seed=12, jit_compile=False)(images)
    assert not np.allclose(a1, other)
    d1, _ = first(images, seed=[5, 6])  # an explicit call seed wins over the stream
    e1, _ = second(images, seed=[5, 6])
    np.testing.assert_array_equal(d1, e1)


def test_zipped_call_seeds_make_parallel_pipelines_reproducible():
    images = np.random.default_rng(11).integers(0, 256, (16, 20, 20, 3)).astype(np.uint8)

    def run():
        augment_fn = augment.SimCLRAugment(16, jit_compile=False)  # no instance seed
        seeds = tf.data.Dataset.random(seed=5).batch(2)
        dataset = tf.data.Dataset.zip(tf.data.Dataset.from_tensor_slices(images).batch(4), seeds)
        dataset = dataset.map(lambda x, s: augment_fn(x, seed=s), num_parallel_calls=2)
        return np.concatenate([view_1 for view_1, _ in dataset])

    first, second = run(), run()
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first[:4], first[4:8])  # batches still get their own draws


def test_config_round_trip_gives_same_views():
    aug = augment.SimCLRAugment(16, crop_area=(0.2, 1.0), blur_prob=(1.0, 0.1), solarize_prob=(0.0, 0.2),
                                jitter_strength=0.5, seed=4, jit_compile=False)
    config = json.loads(json.dumps(aug.get_config()))
    clone = augment.SimCLRAugment.from_config(config)
    assert clone.get_config() == aug.get_config()
    images = np.random.default_rng(10).integers(0, 256, (2, 20, 20, 3)).astype(np.uint8)
    np.testing.assert_array_equal(aug(images)[1], clone(images)[1])
    multi = augment.MultiCrop(16, 8, 2, blur_prob=(1.0, 0.1), seed=1)
    assert augment.MultiCrop.from_config(multi.get_config()).get_config() == multi.get_config()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(multi))
    assert isinstance(restored, augment.MultiCrop) and restored.get_config() == multi.get_config()


def test_digits_recipe_on_real_digits(digits):
    images = digits[0][:8, :, :, None]
    aug = augment.SimCLRAugment.for_digits(28, seed=0, jit_compile=False)
    assert aug.flip_prob == 0.0 and aug.grayscale_prob == 0.0 and aug.crop_area == (0.3, 1.0)
    assert aug.rotation_degrees == 15.0
    view_1, view_2 = aug(images)
    assert view_1.shape == (8, 28, 28, 3)
    # views of the same image after random augmentation: a no-op pipeline gives 0
    assert float(tf.reduce_mean(tf.abs(view_1 - view_2))) > 0.01
    # Digits stay recognisable: the views keep most of the ink of a 0.3+ area crop.
    # mean pixel well above 0: an all-black (broken) view gives 0
    assert float(tf.reduce_mean(view_1)) > 0.03


def test_rotation_by_quarter_turns_equals_rot90_and_small_angles_bilinear():
    from sslzoo.augment import rotate
    rng = np.random.default_rng(0)
    images = rng.random((3, 6, 6, 2)).astype(np.float32)
    turned = rotate.rotate(tf.constant(images), tf.constant([np.pi / 2, -np.pi / 2, np.pi])).numpy()
    np.testing.assert_allclose(turned[0], np.rot90(images[0], 1), atol=1e-5)  # tolerance: PIX5
    np.testing.assert_allclose(turned[1], np.rot90(images[1], -1), atol=1e-5)  # tolerance: PIX5
    np.testing.assert_allclose(turned[2], np.rot90(images[2], 2), atol=1e-5)  # tolerance: PIX5
    half = rotate.rotate(tf.constant(images, tf.float16), tf.constant([np.pi / 2] * 3))
    assert half.dtype == tf.float16
    # float16 (10 mantissa bits: 2^-11 = 4.9e-4 per rounding) on values <= 1, input + output rounding -> ~1e-3
    np.testing.assert_allclose(half.numpy()[0], np.rot90(images[0], 1), atol=1e-3)
    # A single bright pixel at (row 1, col 4) of a 7x7 image, turned 30 degrees counter-clockwise
    # about (3, 3), lands where the inverse map sends it: bilinear weights around that point.
    dot = np.zeros((1, 7, 7, 1), np.float32)
    dot[0, 1, 4, 0] = 1.0
    out = rotate.rotate(tf.constant(dot), tf.constant([np.pi / 6])).numpy()[0, :, :, 0]
    angle = np.pi / 6
    x, y = 4 - 3.0, 1 - 3.0  # offset of the dot from the centre, (x right, y down)
    # The output pixel whose inverse-rotated position is the dot: R(angle)^-1 applied forwards.
    out_x, out_y = np.cos(angle) * x + np.sin(angle) * y + 3.0, -np.sin(angle) * x + np.cos(angle) * y + 3.0
    peak_row, peak_col = np.unravel_index(np.argmax(out), out.shape)
    # the peak lands within half a pixel of where the rotation maps it (bilinear: the pixel grid)
    assert abs(peak_row - out_y) <= 0.5 and abs(peak_col - out_x) <= 0.5
    assert out.sum() == pytest.approx(1.0, abs=0.15)  # bilinear resampling keeps the mass roughly


def test_rotation_angles_within_range_and_seeded(digits):
    images = digits[0][:16, :, :, None]
    kwargs = dict(flip_prob=0.0, jitter_prob=0.0, grayscale_prob=0.0, blur_prob=0.0, crop_area=(1.0, 1.0),
                  aspect_ratio=(1.0, 1.0), jit_compile=False)
    still = augment.SimCLRAugment(28, seed=3, **kwargs)(images)[0].numpy()
    turned = augment.SimCLRAugment(28, seed=3, rotation_degrees=20, **kwargs)
    view = turned(images)[0].numpy()
    again = augment.SimCLRAugment(28, seed=3, rotation_degrees=20, **kwargs)(images)[0].numpy()
    np.testing.assert_array_equal(view, again)
    # a moved view differs on average by > 0.01 from the still one; identical views give 0
    assert np.abs(view - still).mean() > 0.01
    # Each view is the unrotated one turned by some angle within +-20 degrees: search the angle.
    from sslzoo.augment import rotate
    candidates = np.radians(np.arange(-20, 20.25, 0.25)).astype(np.float32)
    for image, target in zip(still, view):
        tiled = tf.constant(np.repeat(image[None], len(candidates), 0))
        errors = np.abs(rotate.rotate(tiled, tf.constant(candidates)).numpy() - target).mean(axis=(1, 2, 3))
        # the angle grid is 0.25 deg: the nearest candidate is off by <= 0.125 deg, a mean pixel error of
        # ~|gradient| x 0.125 deg x radius -> few 1e-3; wrong angles err by > 1e-2
        assert errors.min() < 3e-3, errors.min()


@pytest.mark.parametrize("kwargs, match", [
    ({"blur_prob": 1.5}, "blur_prob"),
    ({"solarize_prob": (0.1, 0.2, 0.3)}, "solarize_prob"),
    ({"crop_area": (0.5, 0.2)}, "crop_area"),
    ({"crop_area": 0.5}, "crop_area"),
    ({"aspect_ratio": (0.0, 1.0)}, "aspect_ratio"),
    ({"blur_radius": 16}, "blur_radius"),
    ({"jitter_strength": -1.0}, "strength"),
    ({"seed": "x"}, "seed"),
    ({"blur_sigma": (2.0, 1.0)}, "blur_sigma"),
    ({"rotation_degrees": -5.0}, "rotation_degrees"),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        augment.SimCLRAugment(16, **kwargs)


@pytest.mark.parametrize("images, match", [
    (np.zeros((20, 20, 3), np.uint8), "B, H, W, C"),
    (np.zeros((2, 20, 20, 2), np.uint8), "channels"),
    (np.zeros((2, 20, 20, 3), np.int32), "dtype"),
])
def test_bad_images_raise(images, match):
    with pytest.raises(ValueError, match=match):
        plain()(images)


def test_preview_writes_png(tmp_path, digits):
    import matplotlib.image

    path = augment.preview(digits[0][:3, :, :, None], plain(jitter_prob=1.0, crop_area=(0.3, 1.0)),
                           str(tmp_path / "grid.png"), num_views=4, seed=1)
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.image.imread(path).shape[0] > 100
