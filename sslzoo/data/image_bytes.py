"""In-graph checks that encoded image bytes are whole, so a bad file fails naming itself.

TensorFlow's decoders fail on a truncated or foreign file with "Invalid JPEG data,
size 427" inside tf.data, naming neither the file nor the record. These checks run
first, on the bytes alone (no decoding), and let the caller raise an error that does.
"""
import tensorflow as tf

JPEG_START = b"\xff\xd8\xff"  # SOI marker and the first marker's 0xFF: how every JPEG begins
JPEG_END = b"\xff\xd9"  # EOI marker: a JPEG cut short lacks it
PNG_START = b"\x89PNG\r\n\x1a\n"
PNG_END = b"IEND"  # the last chunk's type, 8 bytes before the end
END_WINDOW = 32  # the end marker must lie in the last bytes (encoders may pad a few after it)


def _starts(data, prefix):
    return tf.equal(tf.strings.substr(data, 0, len(prefix)), prefix)


def _ends_near(data, marker):
    lengths = tf.strings.length(data)
    tails = tf.strings.substr(data, tf.maximum(lengths - END_WINDOW, 0), tf.fill(tf.shape(lengths), END_WINDOW))
    return tf.strings.split(tails, sep=marker).row_lengths() > 1


def whole_jpeg(data):
    """(N,) string -> (N,) bool: begins FF D8 FF and has the FF D9 end marker near its end."""
    data = tf.reshape(data, [-1])
    return tf.logical_and(_starts(data, JPEG_START), _ends_near(data, JPEG_END))


def whole_png(data):
    """(N,) string -> (N,) bool: the PNG signature and an IEND chunk near the end."""
    data = tf.reshape(data, [-1])
    return tf.logical_and(_starts(data, PNG_START), _ends_near(data, PNG_END))


def whole_png_or_jpeg(data):
    """Scalar string -> scalar bool: whole PNG or whole JPEG bytes."""
    return tf.reduce_all(tf.logical_or(whole_jpeg(data), whole_png(data)))
