"""Evaluation protocols for pre-trained encoders and embedding models.

Classification (frozen or fine-tuned encoders on raw images): `extract_features`,
`linear_probe`, `knn`, `fine_tune`, and the `OnlineLinearProbe` callback that
reports `probe_top1` during pre-training. Embedding models: `retrieval`,
`bidirectional_retrieval`, `zero_shot`; multi-label (AudioSet style): `multilabel_linear_probe`,
`mean_average_precision`; video-audio-text models:
`multimodal_report` (retrieval, probes, zero-shot, missing modalities).
"""
from sslzoo.evaluation.features import extract_features, top_k_accuracy
from sslzoo.evaluation.fine_tune import fine_tune
from sslzoo.evaluation.knn import knn, knn_class_scores
from sslzoo.evaluation.linear_probe import linear_probe
from sslzoo.evaluation.multilabel import mean_average_precision, multilabel_linear_probe
from sslzoo.evaluation.multimodal import class_prompt_embeddings, multimodal_report
from sslzoo.evaluation.online_probe import OnlineLinearProbe
from sslzoo.evaluation.retrieval import bidirectional_retrieval, retrieval, retrieval_ranks
from sslzoo.evaluation.zero_shot import class_embeddings, zero_shot

__all__ = [
    "OnlineLinearProbe", "bidirectional_retrieval", "class_embeddings", "extract_features",
    "fine_tune", "knn", "knn_class_scores", "linear_probe", "mean_average_precision", "multilabel_linear_probe",
    "multimodal_report", "class_prompt_embeddings", "retrieval", "retrieval_ranks",
    "top_k_accuracy", "zero_shot",
]
