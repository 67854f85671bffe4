"""Embedding a corpus under a tf.distribute strategy (2 logical CPU devices, child process):
each replica embeds its shard exactly as one device embeds that shard alone, rows come back
in input order (the padding of an uneven batch dropped), and `sslzoo-index build
--strategy=mirrored` writes the same index to faiss and to Milvus Lite as a one-device build."""
import os

import numpy as np
import pytest

from testing_utils import run_python

TESTS = os.path.dirname(os.path.abspath(__file__))

SCRIPT = f"""
import sys
sys.path.insert(0, {TESTS!r})
import numpy as np
from search_helpers import export_text_image_encoder, write_digit_folder
from sslzoo.data.bundled_digits import digits
from sslzoo.search import Index
from sslzoo.search.encoder import Encoder
from testing_utils import write_result

root = sys.argv[1] if len(sys.argv) > 1 else __import__("os").environ["WORK"]
path = export_text_image_encoder(root + "/encoder")
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
single, mirrored = Encoder(path), Encoder(path, strategy=strategy)
images = digits("test")[0][:7]  # 7 rows: shards of 4 and 3 (the last padded to 4)
texts = ["zero", "one", "two", "three", "four", "five", "six"]
out = {{"replicas": strategy.num_replicas_in_sync}}
for modality, batch in (("image", images), ("text", texts)):
    got = mirrored.embed(modality, batch)["joint"]
    first = single.embed(modality, batch[:4])["joint"]
    last = single.embed(modality, list(batch[4:]) + [batch[6]] if modality == "text" else
                        np.concatenate([batch[4:], batch[6:]]))["joint"][:3]
    out[modality] = {{"shape": list(got.shape), "exact": bool(np.array_equal(got, np.concatenate([first, last])))}}

media = root + "/media"
write_digit_folder(media, per_class=4)
from sslzoo.train import index as cli
indexes = {{}}
# One device embeds batches of 4; the mirrored builds batches of 8, one 4-row shard per replica.
for name, strategy_flag, backend, batch in (("one", "default", "faiss", 4), ("faiss", "mirrored", "faiss", 8),
                                            ("milvus", "mirrored", "milvus", 8)):
    argv = ["sslzoo-index", "--encoder=" + path, "--media=" + media, "--index=" + root + "/" + name,
            "--strategy=" + strategy_flag, "--backend=" + backend, "--batch_size=" + str(batch)]
    if backend == "milvus":
        argv.append("--uri=" + root + "/milvus.db")
    cli.FLAGS.unparse_flags()
    cli.FLAGS(argv)
    assert cli.main(["sslzoo-index", "build"]) == 0
    index = Index.load(root + "/" + name)
    hits = {{q: [(h["id"], h["score"]) for h in index.search(q, k=8)] for q in ("two", "seven")}}
    indexes[name] = {{"hits": hits, "vectors": np.asarray(index._vectors["joint"]).tolist(),
                      "ids": np.asarray(index._ids["joint"]).tolist()}}
    if backend == "milvus":
        index.backend("joint").close()
out["indexes"] = indexes
write_result(out)
"""


@pytest.mark.timeout(300)
def test_mirrored_embedding_matches_one_device_and_writes_either_backend(tmp_path):
    pytest.importorskip("pymilvus")
    result = run_python(SCRIPT, env={"WORK": str(tmp_path)}, tmp_path=tmp_path)
    assert result["replicas"] == 2
    for modality in ("image", "text"):
        assert result[modality]["shape"] == [7, 10]
        # Each replica ran the same function on the same shard shape as the one-device call.
        assert result[modality]["exact"], modality
    one, faiss, milvus = (result["indexes"][name] for name in ("one", "faiss", "milvus"))
    assert one["ids"] == faiss["ids"] == milvus["ids"] and len(one["ids"]) == 40
    # The same rows in the same 4-row products on each replica as on the one device.
    np.testing.assert_array_equal(faiss["vectors"], one["vectors"])
    np.testing.assert_array_equal(milvus["vectors"], one["vectors"])
    # Milvus computes its own inner products of the stored 10-d unit vectors: each of the 10
    # products is at most 1, so its sum may differ by 10 float32 roundings.
    bound = 10 * np.finfo(np.float32).eps
    for query in ("two", "seven"):
        want = one["hits"][query]
        assert faiss["hits"][query] == want
        assert [i for i, _ in milvus["hits"][query]] == [i for i, _ in want]
        np.testing.assert_allclose([s for _, s in milvus["hits"][query]], [s for _, s in want], atol=bound, rtol=0)
