"""Figures for video-audio-text models: retrieval curves and a similarity matrix.

The loss per term (loss, loss_va, loss_vt) is drawn by `sslzoo.plots.plot_loss`,
which plots every history key containing "loss". Agg backend (headless).
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sslzoo.evaluation.retrieval import retrieval_ranks  # noqa: E402


def _save(figure, path):
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _check(embeddings, keys):
    missing = [k for k in keys if k not in embeddings]
    if missing:
        raise ValueError(f"`embeddings` must hold {keys}; missing {missing}")


def plot_retrieval_curves(embeddings, clips, path, max_k=50):
    """Class-level Recall@K for K = 1..max_k, text->video and audio->video -> PNG at `path`.

    Args:
      embeddings: from `multimodal_report(..., keep_embeddings=True)["embeddings"]`:
        video_vt (N, D), text (M, D), query_clip (M,), video_va (N, D), audio_va (A, D),
        audio_clips (A,).
      clips: dict with `label` (N,) and optional `text_class` (N,).
    Returns:
      `path`.
    """
    _check(embeddings, ("video_vt", "text", "query_clip", "video_va", "audio_va", "audio_clips"))
    labels = np.asarray(clips["label"])
    text_class = np.asarray(clips.get("text_class", labels))
    curves = {
        "text -> video": retrieval_ranks(embeddings["text"], embeddings["video_vt"],
                                         text_class[embeddings["query_clip"]], text_class),
        "audio -> video": retrieval_ranks(embeddings["audio_va"], embeddings["video_va"],
                                          labels[embeddings["audio_clips"]], labels),
    }
    ks = np.arange(1, max_k + 1)
    figure, axes = plt.subplots(figsize=(5, 3.5))
    for name, ranks in curves.items():
        axes.plot(ks, [(ranks <= k).mean() for k in ks], label=name)
    axes.set_xscale("log")
    axes.set_xlabel("K")
    axes.set_ylabel("Recall@K (class-level)")
    axes.set_ylim(0, 1.02)
    axes.grid(alpha=0.3)
    axes.legend()
    return _save(figure, path)


def plot_similarity(embeddings, clips, path, max_items=100):
    """Cosine similarity of text queries (rows) and their clips' videos (columns), sorted by class -> PNG.

    Returns `path`.
    """
    _check(embeddings, ("video_vt", "text", "query_clip"))
    text_class = np.asarray(clips.get("text_class", clips["label"]))
    query_clip = np.asarray(embeddings["query_clip"])
    order = np.argsort(text_class[query_clip], kind="stable")[:max_items]
    text = embeddings["text"][order]
    video = embeddings["video_vt"][query_clip[order]]
    text = text / np.maximum(np.linalg.norm(text, axis=1, keepdims=True), 1e-12)
    video = video / np.maximum(np.linalg.norm(video, axis=1, keepdims=True), 1e-12)
    figure, axes = plt.subplots(figsize=(4.5, 4))
    image = axes.imshow(text @ video.T, cmap="viridis", vmin=-1, vmax=1)
    axes.set_xlabel("video of query j's clip (sorted by class)")
    axes.set_ylabel("text query i")
    figure.colorbar(image, ax=axes)
    return _save(figure, path)
