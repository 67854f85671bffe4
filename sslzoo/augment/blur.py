"""Gaussian blur with a different sigma for every image of a batch.

The blur is separable (a vertical then a horizontal 1-D pass) with reflect
padding, like torchvision's GaussianBlur. To blur a whole batch in one op, the
batch is moved into the channel axis, (B, H, W, 3) -> (1, H, W, B*3), and one
depthwise convolution applies each image's own kernel to its three channels.
"""
import tensorflow as tf

from sslzoo.augment import select


def default_kernel_radius(image_size):
    """Radius r of SimCLR's blur kernel, 2r + 1 taps ~ 10% of the image side.

    224 -> r = 11 (23 taps, as in torchvision's SimCLR recipe); 32 -> r = 1 (3 taps).
    """
    image_size = int(image_size)
    if image_size < 2:
        raise ValueError(f"`image_size` must be >= 2, got {image_size}")
    return max(1, image_size // 20)


def gaussian_kernels(sigma, radius):
    """Normalised 1-D Gaussian kernels, one per sigma.

    Args:
      sigma: float32 (N,) standard deviations in pixels, > 0.
      radius: int r; kernels have 2r + 1 taps at offsets -r..r.
    Returns:
      float32 (N, 2r + 1), each row summing to 1.
    """
    offsets = tf.range(-radius, radius + 1, dtype=tf.float32)
    sigma = tf.reshape(tf.cast(sigma, tf.float32), (-1, 1))
    weights = tf.exp(-0.5 * tf.square(offsets[None, :] / sigma))
    return weights / tf.reduce_sum(weights, axis=1, keepdims=True)


def gaussian_blur(images, sigma, radius):
    """Blurs image i with a (2r+1)-tap Gaussian of std `sigma[i]`, reflect padding.

    Args:
      images: float32 (N, H, W, C) with H, W > r.
      sigma: float32 (N,).
      radius: int r >= 1.
    Returns:
      float32 (N, H, W, C).
    """
    radius = int(radius)
    if radius < 1:
        raise ValueError(f"`radius` must be >= 1, got {radius}")
    shape = tf.shape(images)
    n, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    # (N, H, W, C) -> (1, H, W, N*C): channel k = i*C + c belongs to image i.
    stacked = tf.reshape(tf.transpose(images, (1, 2, 0, 3)), (1, height, width, -1))
    kernels = tf.repeat(gaussian_kernels(sigma, radius), channels, axis=0)  # (N*C, 2r+1)
    kernels = tf.transpose(kernels)  # (2r+1, N*C)
    taps = 2 * radius + 1
    padded = tf.pad(stacked, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    vertical = tf.reshape(kernels, (taps, 1, -1, 1))
    horizontal = tf.reshape(kernels, (1, taps, -1, 1))
    blurred = tf.nn.depthwise_conv2d(padded, vertical, [1, 1, 1, 1], "VALID")
    blurred = tf.nn.depthwise_conv2d(blurred, horizontal, [1, 1, 1, 1], "VALID")
    blurred = tf.reshape(blurred, (height, width, n, channels))
    return tf.transpose(blurred, (2, 0, 1, 3))


def random_gaussian_blur(images, seed, prob, radius, sigma_range=(0.1, 2.0)):
    """Blurs each image with probability `prob`, sigma ~ U(sigma_range).

    Only the chosen images are gathered and convolved, so the cost scales with
    the fraction blurred.

    Args:
      images: float32 (B, H, W, C).
      seed: int tensor (2,).
      prob: float or (B,) tensor.
      radius: int, kernel radius (see `default_kernel_radius`).
      sigma_range: (low, high), 0 < low <= high.
    Returns:
      (images (B, H, W, C), applied bool (B,)).
    """
    low, high = (float(v) for v in sigma_range)
    if not 0 < low <= high:
        raise ValueError(f"`sigma_range` must satisfy 0 < low <= high, got {sigma_range}")
    batch = tf.shape(images)[0]
    draw_seed, sigma_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    applied = select.draw(draw_seed, batch, prob)
    sigma = tf.random.stateless_uniform([batch], sigma_seed, low, high)
    blurred = select.apply_to_chosen(images, applied, lambda x, s: gaussian_blur(x, s, radius), sigma)
    return blurred, applied
