"""sslzoo.search: an index of real digit PNGs over a tiny encoder trained here; text and image
queries, save/load, encoder fingerprint refusal, backends against exact search, audio/video clips."""
import json
import os
import pathlib
import wave

import numpy as np
import pytest

import tiny_models
from search_helpers import WORDS, export_text_image_encoder, precision_at_k, train_linear_digits, write_digit_folder
from sslzoo.search import EncoderMismatchError, Index, fingerprint, make_backend


@pytest.fixture(scope="module")
def linear():
    return train_linear_digits()


@pytest.fixture(scope="module")
def setup(tmp_path_factory, linear):
    root = tmp_path_factory.mktemp("search")
    encoder = export_text_image_encoder(root / "encoder", *linear)
    paths = write_digit_folder(str(root / "media"))
    index = Index(encoder, backend="faiss")
    index.add(str(root / "media"))
    return {"root": root, "encoder": encoder, "paths": paths, "index": index}


def test_text_queries_return_the_named_digit(setup):
    index = setup["index"]
    assert len(index) == 300 and index.spaces == ("joint",)
    precisions = [precision_at_k(index.search(f"a photo of the number {word}", k=10), digit)
                  for digit, word in enumerate(WORDS)]
    assert np.mean(precisions) >= 0.9, precisions


def test_image_queries_by_path_and_array_return_the_same_class(setup):
    from sslzoo.data.bundled_digits import digits

    index = setup["index"]
    by_path = index.search(pathlib.Path(setup["paths"][4][0]), k=10)
    assert by_path[0]["path"] == setup["paths"][4][0] and by_path[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert precision_at_k(by_path, 4) >= 0.9
    images, labels = digits("test")
    unseen = images[np.flatnonzero(labels == 6)[-1]]  # not among the indexed 30 per class
    assert precision_at_k(index.search(unseen, k=10), 6) >= 0.9
    rgb_large = np.repeat(np.kron(unseen, np.ones((2, 2, 1), np.uint8)), 3, axis=-1)  # 56x56 RGB
    assert index.search(rgb_large, k=1)[0]["label"] == "6"


def test_results_carry_metadata_and_scores_best_first(setup):
    hits = setup["index"].search("nine", k=7)
    assert len(hits) == 7
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert {"id", "path", "media", "label", "start", "end", "caption", "score"} <= set(hits[0])
    assert hits[0]["media"] == "image" and os.path.isfile(hits[0]["path"])


def test_save_load_round_trip_uses_open_formats(setup, tmp_path):
    index = setup["index"]
    folder = index.save(tmp_path / "idx")
    names = sorted(os.listdir(folder))
    assert names == ["index.json", "joint.faiss", "joint.ids.npy", "joint.vectors.npy", "metadata.jsonl"]
    manifest = json.loads(open(os.path.join(folder, "index.json")).read())
    assert manifest["encoder"]["fingerprint"] == fingerprint(setup["encoder"])
    np.load(os.path.join(folder, "joint.vectors.npy"), allow_pickle=False)  # no pickled objects
    for loaded in (Index.load(folder), Index.load(folder, backend="numpy")):
        assert len(loaded) == len(index)
        for query in ("three", "a photo of the number 8"):
            assert [h["id"] for h in loaded.search(query, k=10)] == [h["id"] for h in index.search(query, k=10)]


def test_query_through_a_different_encoder_is_refused(setup, tmp_path, linear):
    folder = setup["index"].save(tmp_path / "idx")
    weights, bias = linear
    other = export_text_image_encoder(tmp_path / "other", weights * 1.01, bias)
    with pytest.raises(EncoderMismatchError, match="fingerprint"):
        Index.load(folder, encoder=other)
    # The stored encoder folder replaced by another one: refused at the first query.
    manifest_path = os.path.join(folder, "index.json")
    manifest = json.loads(open(manifest_path).read())
    manifest["encoder"]["path"] = str(other)
    open(manifest_path, "w").write(json.dumps(manifest))
    loaded = Index.load(folder)
    with pytest.raises(EncoderMismatchError, match="not comparable"):
        loaded.search("three", k=3)
    assert len(loaded.search(np.eye(10, dtype=np.float32)[3], k=3)) == 3  # vectors need no encoder


def test_remove_drops_items_from_results_and_files(setup, tmp_path):
    index = Index.load(setup["index"].save(tmp_path / "idx"))
    sevens = [h["id"] for h in index.search("seven", k=5)]
    index.remove(sevens)
    assert not set(sevens) & {h["id"] for h in index.search("seven", k=30)}
    assert len(Index.load(index.save(tmp_path / "idx2"))) == 300 - 5


def test_bad_arguments_name_the_argument(setup):
    index = setup["index"]
    with pytest.raises(ValueError, match="`k`"):
        index.search("one", k=0)
    with pytest.raises(ValueError, match="`space`"):
        index.search("one", space="va")
    with pytest.raises(ValueError, match="`modality`"):
        index.search("one", modality="smell")
    with pytest.raises(ValueError, match="`query` vector must have 10"):
        index.search(np.ones(7, np.float32), modality="vector")
    with pytest.raises(ValueError, match="`backend`"):
        Index(backend="annoy")


def test_undecodable_files_are_skipped_and_listed(setup, tmp_path, linear):
    media = tmp_path / "media"
    write_digit_folder(str(media), per_class=2)
    (media / "1" / "broken.png").write_bytes(b"not a png")
    index = Index(setup["encoder"], backend="numpy")
    index.add(str(media))
    assert len(index) == 20
    assert [os.path.basename(p) for p, _ in index.skipped] == ["broken.png"]


def _random_unit(n, dim, seed):
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_faiss_backends_agree_with_exact_numpy():
    vectors, queries = _random_unit(12_000, 32, 0), _random_unit(50, 32, 1)
    ids = np.arange(len(vectors)) * 3 + 5
    exact = make_backend("numpy", 32)
    exact.add(vectors, ids)
    flat = make_backend("faiss", 32)
    flat.add(vectors[:5000], ids[:5000])
    assert flat.factory == "Flat"
    small_exact = make_backend("numpy", 32)
    small_exact.add(vectors[:5000], ids[:5000])
    np.testing.assert_array_equal(flat.search(queries, 10)[1], small_exact.search(queries, 10)[1])
    auto = make_backend("faiss", 32)
    auto.add(vectors, ids)  # HNSW32, or Flat if the graph was measured slower than brute force
    assert auto.factory == "HNSW32" or (auto.factory == "Flat" and auto.fallback)
    hnsw = make_backend("faiss", 32, factory="HNSW32")
    hnsw.add(vectors, ids)
    assert "efSearch" in hnsw.search_params
    truth, found = exact.search(queries, 10)[1], hnsw.search(queries, 10)[1]
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
    assert recall >= 0.9, recall
    hnsw.remove(truth[:, 0])  # HNSW has no delete: tombstones filtered from results
    assert not set(truth[:, 0]) & set(hnsw.search(queries, 10)[1].ravel())
    ivf = make_backend("faiss", 32, factory="IVF64,Flat")  # an explicit choice; IVF deletes in place
    ivf.add(vectors, ids)
    assert ivf.search_params["nprobe"] >= 1 and ivf.achieved_recall >= 0.95
    ivf.remove(ids[:100])
    assert len(ivf) == len(ids) - 100


def test_faiss_choice_follows_size_and_memory():
    from sslzoo.search.faiss_backend import choose_factory, estimate_bytes

    assert choose_factory(9_999, 256) == "Flat"
    assert choose_factory(50_000, 256) == "HNSW32"
    assert choose_factory(10**6, 256, memory_bytes=2 * 10**9) == "HNSW32"
    short = choose_factory(10**6, 256, memory_bytes=2 * 10**8)
    assert short.startswith("IVF") and short.endswith(",PQ32")
    assert estimate_bytes(short, 10**6, 256) <= 2 * 10**8


def test_milvus_lite_gives_the_same_results_as_numpy(setup, tmp_path):
    pytest.importorskip("pymilvus")  # an optional backend: pip install pymilvus milvus-lite
    milvus = Index.load(setup["index"].save(tmp_path / "idx"), backend="milvus",
                        backend_options={"uri": str(tmp_path / "milvus.db")})
    exact = Index.load(str(tmp_path / "idx"), backend="numpy")
    for query in ("a photo of the number 2", "five"):
        got, want = milvus.search(query, k=10), exact.search(query, k=10)
        np.testing.assert_allclose([h["score"] for h in got], [h["score"] for h in want], atol=1e-5)
        assert {h["label"] for h in got} == {h["label"] for h in want}
    milvus.backend("joint").close()


def test_fallback_serving_default_export_indexes_images(tmp_path, digits):
    import keras

    from sslzoo import export

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(inputs)
    encoder = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    path = export.save(encoder, tmp_path / "export")
    media = tmp_path / "media"
    write_digit_folder(str(media), per_class=2)
    index = Index(path, backend="numpy")
    index.add(str(media))
    # Older exports: serving_default -> "embedding"; with an `image` signature: its "features".
    assert index.spaces in (("embedding",), ("features",)) and len(index) == 20
    hit = index.search(pathlib.Path(media / "3" / "001.png"), k=1)[0]
    assert hit["path"].endswith(os.path.join("3", "001.png"))
    with pytest.raises(ValueError, match="`modality`"):
        index.search("three")


def test_serving_default_only_export_reads_as_image_with_embedding_and_projection(tmp_path, linear):
    import tensorflow as tf

    from sslzoo.search import Encoder

    weights, bias = linear

    class Legacy(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])
        def serve(self, images):
            x = tf.image.resize(tf.reduce_mean(tf.cast(images, tf.float32) / 255.0, -1, keepdims=True), (28, 28))
            h = tf.reshape(x, (-1, 784)) @ weights + bias
            return {"embedding": h, "projection": h[:, :5]}

    module = Legacy()
    tf.saved_model.save(module, str(tmp_path / "legacy"), signatures={"serving_default": module.serve})
    encoder = Encoder(tmp_path / "legacy")
    assert encoder.modalities == ("image",) and encoder.spaces("image") == ("embedding", "projection")
    out = encoder.embed("image", [np.zeros((28, 28, 1), np.uint8) + 9, np.zeros((40, 30, 3), np.uint8)])
    assert out["embedding"].shape == (2, 10) and out["projection"].shape == (2, 5)
    np.testing.assert_allclose(np.linalg.norm(out["embedding"], axis=1), 1.0, rtol=1e-5)


# ---------------------------------------------------------------- audio and video clips
def _av_module():
    """`video` -> mean RGB of the clip, `audio` -> energy in 3 bands around 300/1200/4000 Hz; space "va"."""
    import tensorflow as tf

    class ColourTone(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, None, 3], tf.float32, name="video")])
        def video(self, video):
            rgb = tf.reduce_mean(video, axis=[1, 2, 3])
            return {"features": rgb, "va": tf.math.l2_normalize(tf.nn.relu(rgb - 0.2), axis=-1)}

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="audio")])
        def audio(self, audio):
            spectrum = tf.abs(tf.signal.rfft(audio[:, :8000]))  # 8000 samples at 8 kHz: 1 Hz bins
            bands = tf.stack([tf.reduce_sum(spectrum[:, lo:hi], axis=1)
                              for lo, hi in ((100, 600), (800, 2000), (3000, 4000))], axis=1)
            return {"features": bands, "va": tf.math.l2_normalize(bands, axis=-1)}

    return ColourTone()


def _write_video(path, colours, seconds_each, fps=10, size=32):
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for colour in colours:
            for _ in range(int(seconds_each * fps)):
                frame = np.zeros((size, size, 3), np.uint8) + np.array(colour, np.uint8)
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _write_tone(path, hz, rate=16000, seconds=1.0):
    t = np.arange(int(rate * seconds)) / rate
    samples = (0.5 * np.sin(2 * np.pi * hz * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(samples.tobytes())


def test_video_clips_and_audio_queries_find_the_moment(tmp_path):
    pytest.importorskip("av")
    import tensorflow as tf

    module = _av_module()
    tf.saved_model.save(module, str(tmp_path / "enc"), signatures={"video": module.video, "audio": module.audio})
    (tmp_path / "enc" / "model_card.json").write_text(json.dumps({"audio_sample_rate": 8000}))
    media = tmp_path / "media"
    media.mkdir()
    red, green, blue = (230, 20, 20), (20, 230, 20), (20, 20, 230)
    _write_video(media / "red_then_blue.mp4", [red, blue], 2.0)
    _write_video(media / "green.mp4", [green], 2.0)
    (media / "corrupt.mp4").write_bytes(b"\x00" * 100)
    index = Index(str(tmp_path / "enc"), backend="numpy")
    index.add(str(media), clip_seconds=2.0)
    assert len(index) == 3 and [os.path.basename(p) for p, _ in index.skipped] == ["corrupt.mp4"]
    low, high = tmp_path / "low.wav", tmp_path / "high.wav"
    _write_tone(low, 300)
    _write_tone(high, 3500)
    top = index.search(pathlib.Path(low), k=1)[0]  # band 1 -> red
    assert os.path.basename(top["path"]) == "red_then_blue.mp4" and top["start"] == 0.0
    top = index.search(pathlib.Path(high), k=1)[0]  # band 3 -> blue, the second clip
    assert os.path.basename(top["path"]) == "red_then_blue.mp4" and top["start"] == pytest.approx(2.0)
    assert top["end"] == pytest.approx(4.0, abs=0.15)


def test_dmvr_shards_are_indexed_one_item_per_clip(tmp_path):
    import tensorflow as tf

    from sslzoo.data.av import write_clips

    module = _av_module()
    tf.saved_model.save(module, str(tmp_path / "enc"), signatures={"video": module.video, "audio": module.audio})
    (tmp_path / "enc" / "model_card.json").write_text(json.dumps({"audio_sample_rate": 8000}))
    frames = {name: np.zeros((6, 16, 16, 3), np.uint8) + np.array(c, np.uint8)
              for name, c in (("red", (230, 20, 20)), ("blue", (20, 20, 230)))}
    clips = [{"frames": frames[name], "audio": np.zeros(800, np.float32), "captions": [f"a {name} square"],
              "label": [n], "label_text": [name], "filename": f"{name}.mp4", "start": 1.0, "end": 1.6}
             for n, name in enumerate(("red", "blue"))]
    write_clips(str(tmp_path / "shards" / "train"), clips, num_shards=2)
    (tmp_path / "shards" / "broken-00000-of-00001").write_bytes(b"garbage")
    index = Index(str(tmp_path / "enc"), backend="numpy")
    index.add(str(tmp_path / "shards"))
    assert len(index) == 2 and [os.path.basename(p) for p, _ in index.skipped] == ["broken-00000-of-00001"]
    high = tmp_path / "high.wav"
    _write_tone(high, 3500)
    top = index.search(pathlib.Path(high), k=1)[0]
    assert (top["label"], top["caption"], top["source"], top["start"]) == ("blue", "a blue square", "blue.mp4", 1.0)


def test_sslzoo_clip_export_is_indexed_and_queried_like_model_embed(tmp_path):
    """The real per-modality export of a (small, untrained) CLIP: the Index's scores are the
    cosine similarities of `model.embed` in the joint space."""
    from sslzoo import export
    from sslzoo.preprocessing import eval_images

    tokenizer = tiny_models.caption_tokenizer()
    clip = tiny_models.clip(tokenizer)
    path = export.save(clip, tmp_path / "clip")
    media = tmp_path / "media"
    write_digit_folder(str(media), per_class=2)
    index = Index(path, backend="numpy")
    index.add(str(media))
    assert index.spaces == ("joint",) and index.encoder.modalities == ("image", "text")
    query = "a drawing of the digit seven."
    hits = index.search(query, k=20)
    import tensorflow as tf

    images = np.stack([tf.io.decode_png(open(h["path"], "rb").read()).numpy() for h in hits])
    image_emb = clip.embed(eval_images(images, 16), "image", "joint").numpy()
    text_emb = clip.embed(tokenizer(tf.constant([query])), "text", "joint").numpy()
    cosine = (image_emb / np.linalg.norm(image_emb, axis=1, keepdims=True)) @ (
        text_emb[0] / np.linalg.norm(text_emb[0]))
    np.testing.assert_allclose([h["score"] for h in hits], cosine, atol=1e-4)

    # The command in a fresh interpreter that imports nothing else first: the text signature's
    # tokenizer ops (tensorflow-text) must be registered by the loader itself.
    import subprocess
    import sys

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "sslzoo.train.index"]
    built = subprocess.run(command + ["build", f"--encoder={path}", f"--media={media}", f"--index={tmp_path / 'idx'}",
                                      "--backend=numpy"], capture_output=True, text=True, env=env, timeout=180)
    assert built.returncode == 0, built.stderr[-3000:]
    queried = subprocess.run(command + ["query", f"--index={tmp_path / 'idx'}", f"--text={query}", "-k", "20",
                                        "--json"], capture_output=True, text=True, env=env, timeout=180)
    assert queried.returncode == 0, queried.stderr[-3000:]
    # Same export, same vectors, another process: only graph execution order differs (float32 ~1e-6).
    np.testing.assert_allclose(sorted(h["score"] for h in json.loads(queried.stdout)),
                               sorted(h["score"] for h in hits), atol=1e-4)
