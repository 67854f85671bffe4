"""Search media by learned embeddings: an `Index` over an exported encoder's joint spaces.

    from sslzoo.search import Index
    index = Index("exports/clip", backend="faiss")
    index.add("photos/")                        # images, audio, video clips
    index.search("a photo of the number 3", k=10)
    index.save("photos.index"); Index.load("photos.index")

Backends: "faiss" (faiss-cpu, type chosen by size and memory), "numpy" (exact),
"milvus" (pymilvus: Milvus Lite file or cluster URI). `sslzoo-index` is the
command line (build / add / query / serve); `sslzoo.search.server` the web app.
"""
from sslzoo.search.backends import Backend, NumpyBackend, available_backends, make_backend, register_backend
from sslzoo.search.encoder import Encoder, fingerprint, load_encoder
from sslzoo.search.index import EncoderMismatchError, Index

__all__ = ["Backend", "Encoder", "EncoderMismatchError", "Index", "NumpyBackend", "available_backends",
           "fingerprint", "load_encoder", "make_backend", "register_backend"]
