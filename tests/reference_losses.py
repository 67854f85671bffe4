"""Independent float64 numpy formulas of every sslzoo loss, written from the papers and the loss docstrings (docs/ARCHITECTURE.md)."""
import numpy as np


def np_normalize(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def np_logsumexp(values):
    values = np.asarray(values, np.float64)
    top = values.max()
    return top + np.log(np.exp(values - top).sum())


def np_cross_entropy(logits, labels):
    return np.mean([np_logsumexp(row) - row[label] for row, label in zip(logits, labels)])


def np_margin_contrastive(x1, x2, similar, margin):
    d = np.sqrt(((x1 - x2) ** 2).sum(-1))
    return np.mean(similar * d**2 + (1 - similar) * np.maximum(0.0, margin - d) ** 2)


def np_nt_xent(z1, z2, t):
    z = np_normalize(np.concatenate([z1, z2]))
    n = len(z1)
    total = 0.0
    for a in range(2 * n):
        positive = (a + n) % (2 * n)
        others = [z[a] @ z[j] / t for j in range(2 * n) if j != a]
        total += np_logsumexp(others) - z[a] @ z[positive] / t
    return total / (2 * n)


def np_info_nce(q, k, queue, t):
    q, k = np_normalize(q), np_normalize(k)
    if queue is None:
        return np_cross_entropy(q @ k.T / t, np.arange(len(q)))
    logits = np.concatenate([(q * k).sum(-1, keepdims=True), q @ np_normalize(queue).T], axis=1) / t
    return np_cross_entropy(logits, np.zeros(len(q), int))


def np_barlow_twins(z1, z2, lambd):
    def standardize(z):
        return (z - z.mean(0)) / np.sqrt(z.var(0) + 1e-5)

    c = standardize(z1).T @ standardize(z2) / len(z1)
    off = c - np.diag(np.diag(c))
    return ((1 - np.diag(c)) ** 2).sum() + lambd * (off**2).sum()


def np_sinkhorn(scores, epsilon, iterations):
    q = np.exp(scores / epsilon).T  # (K, B), as in the SwAV code
    k, b = q.shape
    q /= q.sum()
    for _ in range(iterations):
        q /= q.sum(axis=1, keepdims=True)
        q /= k
        q /= q.sum(axis=0, keepdims=True)
        q /= b
    return (q * b).T


def np_swav(scores, num_global, t, epsilon, iterations):
    def log_softmax(x):
        return x - np.array([np_logsumexp(row) for row in x])[:, None]

    terms = []
    for s in range(num_global):
        q = np_sinkhorn(scores[s], epsilon, iterations)
        ces = [-np.mean((q * log_softmax(scores[v] / t)).sum(-1)) for v in range(len(scores)) if v != s]
        terms.append(np.mean(ces))
    return np.mean(terms)


def np_clip(x, y, scale):
    s = scale * np_normalize(x) @ np_normalize(y).T
    labels = np.arange(len(x))
    return (np_cross_entropy(s, labels) + np_cross_entropy(s.T, labels)) / 2


def np_mil_nce(video, text, mask, t):
    v, tx = np_normalize(video), np_normalize(text)
    b, k = mask.shape

    def s(i, j, c):
        return v[i] @ tx[j, c] / t

    total = 0.0
    for i in range(b):
        row = [s(i, j, c) for j in range(b) for c in range(k) if mask[j, c]]
        column = [s(j, i, c) for j in range(b) for c in range(k) if mask[i, c]]
        positives = [s(i, i, c) for c in range(k) if mask[i, c]]
        total += np_logsumexp(row + column) - np_logsumexp(positives)
    return total / b
