"""sslzoo-index: index media with an exported encoder, query it, serve it on a web page.

    sslzoo-index build --encoder=runs/clip/export/saved_model --media=photos/ --index=photos.index
    sslzoo-index build --encoder=exports/mmv --media=videos/ --index=v.index --space=vat --clip_seconds=5
    sslzoo-index build --encoder=... --media=corpus/ --index=big.index --strategy=mirrored --batch_size=1024
    sslzoo-index add   --index=photos.index --media=more_photos/
    sslzoo-index query --index=photos.index --text="a photo of the number 3" -k 10 [--json]
    sslzoo-index query --index=photos.index --image=query.png
    sslzoo-index remove --index=photos.index --ids=3,17
    sslzoo-index serve --index=photos.index --port=8080          # http://127.0.0.1:8080/

Media: folders (searched recursively) or files: PNG/JPEG/BMP/GIF images, WAV/FLAC/MP3/OGG
audio, MP4/MOV/MKV/WEBM video (indexed as clips every --clip_seconds), DMVR TFRecord
shards. Files that cannot be decoded are skipped and listed. Backends: faiss (default;
index type chosen by size and --memory_mb, or --factory), numpy (exact), milvus
(--uri=index/milvus.db for Milvus Lite, or a server URI). --strategy embeds each batch on all
of this machine's replicas (`sslzoo.search.encoder`), whichever backend is written.
"""
import json
import pathlib
import sys

from absl import app, flags

FLAGS = flags.FLAGS
COMMANDS = ("build", "add", "query", "remove", "serve")
flags.DEFINE_string("encoder", None, "Export folder (SavedModel with image/text/video/audio or serving_default).")
flags.DEFINE_list("media", [], "Media folders or files to index.")
flags.DEFINE_string("index", None, "Index folder.")
flags.DEFINE_string("space", None, "Joint space to search by default (e.g. joint, va, vat).")
flags.DEFINE_float("clip_seconds", None, "Index video and audio as clips of this length.")
flags.DEFINE_integer("batch_size", 64, "Items per encoder call while embedding (split across replicas).")
flags.DEFINE_string("strategy", "default", "tf.distribute strategy for embedding (build, add): default, "
                    "mirrored, tpu or auto (sslzoo.distribute.strategy).")
flags.DEFINE_enum("backend", None, ["faiss", "numpy", "milvus"], "Vector store (build default: faiss).")
flags.DEFINE_string("factory", None, "faiss factory string overriding the automatic choice.")
flags.DEFINE_integer("memory_mb", None, "Memory budget of the faiss index (picks IVF-PQ when short).")
flags.DEFINE_string("uri", None, "Milvus URI: a Milvus Lite file (*.db) or http://host:19530.")
flags.DEFINE_string("text", None, "Query: text.")
flags.DEFINE_string("image", None, "Query: image file.")
flags.DEFINE_string("audio", None, "Query: audio file.")
flags.DEFINE_string("video", None, "Query: video file (its first clip).")
flags.DEFINE_integer("k", 10, "Number of results.")
flags.DEFINE_bool("json", False, "Print query results as JSON.")
flags.DEFINE_list("ids", [], "Item ids to remove.")
flags.DEFINE_string("host", "127.0.0.1", "Address to bind (127.0.0.1: this machine only).")
flags.DEFINE_integer("port", 8080, "Port to serve on.")
flags.DEFINE_integer("max_upload_mb", 10, "Largest accepted upload, MiB.")
flags.DEFINE_integer("max_k", 100, "Largest k the server accepts.")


def _require(name):
    value = getattr(FLAGS, name)
    if value in (None, [], ""):
        raise app.UsageError(f"--{name} is required for this command")
    return value


def _backend_options():
    options = {}
    if FLAGS.factory:
        options["factory"] = FLAGS.factory
    if FLAGS.memory_mb:
        options["memory_bytes"] = FLAGS.memory_mb * 2**20
    if FLAGS.uri:
        options["uri"] = FLAGS.uri
    return options


def _report_add(index, new_ids, skipped_before):
    print(f"indexed {len(new_ids)} items; the index holds {len(index)} in spaces {list(index.spaces)}")
    skipped = index.skipped[skipped_before:]
    if skipped:
        print(f"skipped {len(skipped)} files:")
        for path, reason in skipped:
            print(f"  {path}: {reason}")


def _encoder(path):
    """The export at `path`, embedding under --strategy."""
    from sslzoo import distribute
    from sslzoo.search.encoder import load_encoder

    strategy = None if FLAGS.strategy == "default" else distribute.strategy(FLAGS.strategy)
    return load_encoder(path, strategy=strategy)


def build():
    from sslzoo.search import Index

    backend = FLAGS.backend or "faiss"
    index = Index(_encoder(_require("encoder")), backend=backend, backend_options=_backend_options(),
                  space=FLAGS.space)
    new_ids = index.add(_require("media"), clip_seconds=FLAGS.clip_seconds, batch_size=FLAGS.batch_size,
                        progress=True)
    for space in index.spaces:
        index.backend(space)  # build now, so the faiss file is saved with the index
    print(f"wrote {index.save(_require('index'))}")
    _report_add(index, new_ids, 0)


def _load():
    from sslzoo.search import Index

    options = _backend_options() or None
    return Index.load(_require("index"), encoder=FLAGS.encoder, backend=FLAGS.backend, backend_options=options)


def add():
    index = _load()
    if FLAGS.strategy != "default" and index.encoder_path is not None:
        index.set_encoder(_encoder(FLAGS.encoder or index.encoder_path))
    before = len(index.skipped)
    new_ids = index.add(_require("media"), clip_seconds=FLAGS.clip_seconds, batch_size=FLAGS.batch_size,
                        progress=True)
    index.save(FLAGS.index)
    _report_add(index, new_ids, before)


def remove():
    index = _load()
    ids = [int(i) for i in _require("ids")]
    before = len(index)
    index.remove(ids)
    index.save(FLAGS.index)
    print(f"removed {before - len(index)} items; {len(index)} left")


def format_hit(rank, hit):
    span = f"  [{hit['start']:.1f}s-{hit['end']:.1f}s]" if hit.get("start") is not None else ""
    label = f"  ({hit['label']})" if hit.get("label") else ""
    return f"{rank:3d}  {hit['score']:.4f}  {hit['path']}{span}{label}"


def query():
    given = {name: getattr(FLAGS, name) for name in ("text", "image", "audio", "video") if getattr(FLAGS, name)}
    if len(given) != 1:
        raise app.UsageError("query needs exactly one of --text, --image, --audio, --video")
    (modality, value), = given.items()
    index = _load()
    target = value if modality == "text" else pathlib.Path(value)
    hits = index.search(target, k=FLAGS.k, space=FLAGS.space, modality=modality)
    if FLAGS.json:
        print(json.dumps(hits, indent=1))
    else:
        for rank, hit in enumerate(hits, 1):
            print(format_hit(rank, hit))


def serve():
    from sslzoo.search.server import serve as serve_index

    index = _load()
    serve_index(index, host=FLAGS.host, port=FLAGS.port, max_upload_bytes=FLAGS.max_upload_mb * 2**20,
                max_k=FLAGS.max_k)


def main(argv):
    if len(argv) != 2 or argv[1] not in COMMANDS:
        raise app.UsageError(f"usage: sslzoo-index ({' | '.join(COMMANDS)}) --flags...; got {argv[1:]}")
    try:
        globals()[argv[1]]()
    except ValueError as error:  # bad arguments or files: one clear line, no traceback
        print(f"sslzoo-index {argv[1]}: {error}", file=sys.stderr)
        return 2
    return 0


def run():
    """Console-script entry point (`sslzoo-index`)."""
    from sslzoo.train import cli

    cli.run_program(main, __name__, "sslzoo-index")


if __name__ == "__main__":
    run()
