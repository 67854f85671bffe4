"""Text for the image-text objectives: WordPiece tokenizer and text encoders.

    vocabulary = sslzoo.text.learn_vocabulary(captions)
    tokenizer = sslzoo.text.Tokenizer(vocabulary, sequence_length=16)
    encoder = sslzoo.text.TransformerTextEncoder(len(vocabulary), 16, width=64, depth=2, heads=4)
"""
from sslzoo.text.encoders import BagOfWordsTextEncoder, TransformerTextEncoder
from sslzoo.text.tokenizer import RESERVED_TOKENS, Tokenizer, learn_vocabulary

__all__ = ["BagOfWordsTextEncoder", "RESERVED_TOKENS", "Tokenizer", "TransformerTextEncoder", "learn_vocabulary"]
