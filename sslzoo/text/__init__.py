"""Text for the image-text objectives: WordPiece tokenizer and text encoders.

    vocabulary = sslzoo.text.learn_vocabulary(captions)
    tokenizer = sslzoo.text.Tokenizer(vocabulary, sequence_length=16)
    encoder = sslzoo.text.TransformerTextEncoder(len(vocabulary), 16, width=64, depth=2, heads=4)

MMV's word-level text tower (`mmv_text.py`):

    words = sslzoo.text.learn_word_vocabulary(narrations, size=5000)
    encoder = sslzoo.text.MMVTextEncoder(words, sequence_length=16, width=2048)   # encoder.tokenizer
"""
from sslzoo.text.encoders import BagOfWordsTextEncoder, TransformerTextEncoder
from sslzoo.text.mmv_text import (MMVTextEncoder, WordTokenizer, learn_word_vocabulary, load_word_vectors,
                                  split_words)
from sslzoo.text.tokenizer import RESERVED_TOKENS, Tokenizer, learn_vocabulary

__all__ = ["BagOfWordsTextEncoder", "MMVTextEncoder", "RESERVED_TOKENS", "Tokenizer", "TransformerTextEncoder",
           "WordTokenizer", "learn_vocabulary", "learn_word_vocabulary", "load_word_vectors", "split_words"]
