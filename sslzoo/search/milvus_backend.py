"""Milvus backend through pymilvus: Milvus Lite (an embedded file) or a cluster URI.

`uri` is a local path ending in ".db" (Milvus Lite, started in-process by
pymilvus; `pip install pymilvus milvus-lite`) or "http://host:19530" for a
Milvus server or cluster. Vectors live in one collection per index space with
an int64 primary key and an inner-product metric; with a cluster the collection
is the source of truth at scale, so `load` reuses it when it already holds the
index's ids instead of re-inserting.
"""
import numpy as np

from sslzoo.search.backends import Backend, check_k, check_vectors, register_backend

INSERT_BATCH = 5000


def _client(uri, token=None):
    try:
        from pymilvus import MilvusClient
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("the milvus backend needs pymilvus (and milvus-lite for a local .db "
                          "file): pip install pymilvus milvus-lite") from error
    return MilvusClient(uri, token=token) if token else MilvusClient(uri)


@register_backend("milvus")
class MilvusBackend(Backend):
    """A Milvus collection of unit vectors, metric IP.

    Args:
      dim: vector width D.
      uri: Milvus Lite file path ("index/milvus.db") or server URI.
      collection: collection name (letters, digits, underscores).
      token: credentials for a server ("user:password"), if it needs them.
      index_type: Milvus index type ("FLAT" exact, "HNSW", "IVF_FLAT", "AUTOINDEX").
    """

    def __init__(self, dim, uri=None, collection="sslzoo", token=None, index_type="FLAT"):
        super().__init__(dim)
        if not uri:
            raise ValueError("`uri` must be a Milvus Lite file path (*.db) or a server URI, got "
                             f"{uri!r}")
        if not collection.replace("_", "").isalnum():
            raise ValueError(f"`collection` must be letters, digits and underscores, got {collection!r}")
        self.uri, self.collection, self.index_type = str(uri), collection, index_type
        self._client = _client(self.uri, token)
        self._count = 0

    def _create(self, drop):
        client = self._client
        if client.has_collection(self.collection):
            if not drop:
                return
            client.drop_collection(self.collection)
        params = client.prepare_index_params()
        params.add_index(field_name="vector", index_type=self.index_type, metric_type="IP")
        client.create_collection(self.collection, dimension=self.dim, metric_type="IP",
                                 auto_id=False, id_type="int", index_params=params)

    def reset(self):
        """Drops and recreates the collection (empty)."""
        self._create(drop=True)
        self._count = 0

    def add(self, vectors, ids):
        vectors = check_vectors(vectors, self.dim)
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) != len(vectors):
            raise ValueError(f"`ids` must have {len(vectors)} entries, got {len(ids)}")
        if self._count == 0:
            self._create(drop=True)
        for start in range(0, len(ids), INSERT_BATCH):
            rows = [{"id": int(i), "vector": v.tolist()}
                    for i, v in zip(ids[start:start + INSERT_BATCH], vectors[start:start + INSERT_BATCH])]
            self._client.insert(self.collection, rows)
        self._count += len(ids)

    def search(self, queries, k):
        queries = check_vectors(queries, self.dim, "queries")
        k = check_k(k)
        kk = min(k, self._count)
        scores = np.full((len(queries), kk), -np.inf, np.float32)
        found = np.full((len(queries), kk), -1, np.int64)
        if kk == 0:
            return scores, found
        hits = self._client.search(self.collection, data=queries.tolist(), limit=kk,
                                   search_params={"metric_type": "IP"}, output_fields=[])
        for row, row_hits in enumerate(hits):
            for col, hit in enumerate(row_hits[:kk]):
                found[row, col] = int(hit["id"])
                scores[row, col] = float(hit["distance"])
        return scores, found

    def remove(self, ids):
        ids = [int(i) for i in np.asarray(ids, dtype=np.int64).reshape(-1)]
        if ids and self._count:
            result = self._client.delete(self.collection, ids=ids)
            deleted = result.get("delete_count", len(ids)) if isinstance(result, dict) else len(ids)
            self._count = max(0, self._count - int(deleted))

    def __len__(self):
        return self._count

    def describe(self):
        return {"backend": self.name, "uri": self.uri, "collection": self.collection,
                "index_type": self.index_type}

    def load(self, path, vectors, ids):
        """Reuses the collection when it holds exactly `ids`, else rebuilds it from `vectors`."""
        if self._client.has_collection(self.collection) and len(ids):
            stats = self._client.get_collection_stats(self.collection)
            if int(stats.get("row_count", -1)) == len(ids):
                self._count = len(ids)
                return
        self._count = 0
        self.add(vectors, ids)

    def close(self):
        self._client.close()
