"""Cross-modal retrieval metrics on embeddings: Recall@K and median / mean rank."""
import numpy as np


def _normalize(x, name):
    x = np.asarray(x, np.float32)
    if x.ndim != 2:
        raise ValueError(f"`{name}` must be embeddings (N, D), got shape {x.shape}")
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def retrieval_ranks(query_embeddings, gallery_embeddings, query_ids=None, gallery_ids=None, chunk_size=1024):
    """1-based rank of the best-placed correct gallery item for every query (cosine).

    Query i matches gallery j when query_ids[i] == gallery_ids[j]; the default
    ids are positions, so by default row i of the query matches row i of the
    gallery. Ties are resolved in the query's favour (only strictly more similar
    items count as ahead).

    Args:
      query_embeddings: (Nq, D); gallery_embeddings: (Ng, D).
      query_ids: int (Nq,) or None; gallery_ids: int (Ng,) or None, e.g. several
        captions (queries) with the id of their one image (gallery).
    Returns:
      int64 numpy (Nq,) ranks in [1, Ng].
    """
    query = _normalize(query_embeddings, "query_embeddings")
    gallery = _normalize(gallery_embeddings, "gallery_embeddings")
    if query.shape[1] != gallery.shape[1]:
        raise ValueError(f"query and gallery embeddings differ in size: {query.shape} vs {gallery.shape}")
    if query_ids is None and gallery_ids is None and len(query) != len(gallery):
        raise ValueError(
            f"without ids, row i of the query matches row i of the gallery, so their lengths must "
            f"agree; got {len(query)} queries and {len(gallery)} gallery items"
        )
    query_ids = np.arange(len(query)) if query_ids is None else np.asarray(query_ids)
    gallery_ids = np.arange(len(gallery)) if gallery_ids is None else np.asarray(gallery_ids)
    if query_ids.shape != (len(query),) or gallery_ids.shape != (len(gallery),):
        raise ValueError(f"`query_ids` must be ({len(query)},) and `gallery_ids` ({len(gallery)},), "
                         f"got {query_ids.shape} and {gallery_ids.shape}")
    ranks = []
    for start in range(0, len(query), chunk_size):
        similarity = query[start:start + chunk_size] @ gallery.T
        match = query_ids[start:start + chunk_size, None] == gallery_ids[None, :]
        if not match.any(axis=1).all():
            raise ValueError("every query needs at least one gallery item with its id")
        best = np.where(match, similarity, -np.inf).max(axis=1)
        ranks.append(1 + (similarity > best[:, None]).sum(axis=1))
    return np.concatenate(ranks).astype(np.int64)


def retrieval(query_embeddings, gallery_embeddings, ks=(1, 5, 10), query_ids=None, gallery_ids=None):
    """Query -> gallery retrieval metrics.

    Args: as in `retrieval_ranks`; ks: the K of the Recall@K entries.
    Returns:
      {"R@1": ..., "R@5": ..., "R@10": ..., "median_rank": ..., "mean_rank": ...};
      recalls are fractions in [0, 1], ranks are 1-based.
    """
    ranks = retrieval_ranks(query_embeddings, gallery_embeddings, query_ids, gallery_ids)
    metrics = {f"R@{k}": float(np.mean(ranks <= k)) for k in ks}
    metrics["median_rank"] = float(np.median(ranks))
    metrics["mean_rank"] = float(np.mean(ranks))
    return metrics


def bidirectional_retrieval(a, b, ks=(1, 5, 10), a_ids=None, b_ids=None, names=("image", "text")):
    """Retrieval in both directions, keys prefixed "image_to_text/", "text_to_image/".

    Args:
      a: (Na, D) embeddings of modality names[0]; b: (Nb, D) of names[1].
      a_ids, b_ids: optional ids as in `retrieval_ranks` (a item i matches b item j
        when their ids agree).
    Returns:
      dict of both directions' metrics.
    """
    first, second = names
    forward = retrieval(a, b, ks, query_ids=a_ids, gallery_ids=b_ids)
    backward = retrieval(b, a, ks, query_ids=b_ids, gallery_ids=a_ids)
    metrics = {f"{first}_to_{second}/{key}": value for key, value in forward.items()}
    metrics.update({f"{second}_to_{first}/{key}": value for key, value in backward.items()})
    return metrics
