"""Packaging for sslzoo: one import namespace, ``sslzoo``.

The top-level folders ``models/``, ``train/`` and ``export/`` are installed as
``sslzoo.models``, ``sslzoo.train`` and ``sslzoo.export`` (see docs/ARCHITECTURE.md).
"""
from setuptools import find_packages, setup

CORE = find_packages(include=["sslzoo", "sslzoo.*"])
MAPPED = {"sslzoo.models": "models", "sslzoo.train": "train", "sslzoo.export": "export"}

setup(
    name="sslzoo",
    version="0.1.0",
    description="Self-supervised learning model zoo for Keras 3 / TensorFlow",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10,<3.14",
    packages=CORE + list(MAPPED),
    package_dir={"sslzoo": "sslzoo", **MAPPED},
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.15,<4",
        "tensorflow-text>=2.21,<2.22",
        "tensorflow-datasets>=4.9.10,<5",
        "absl-py>=2.1,<3",
        "numpy>=1.26,<3",
        "scipy>=1.11,<2",
        "mlxtend>=0.23,<1",
        "matplotlib>=3.8,<4",
        "tqdm>=4.66,<5",
        "tensorboard>=2.20,<3",
        "av>=14,<19",
        "pillow>=10,<14",
        "faiss-cpu>=1.9,<2",
    ],
    extras_require={
        "export": ["tensorflow-hub>=0.16.1,<0.17", "tf-keras>=2.21,<2.22", "ai-edge-litert>=2.0,<3"],
        "milvus": ["pymilvus>=2.5,<4", "milvus-lite>=2.5,<4"],
        "beam": ["apache-beam>=2.77,<3", "google-crc32c>=1.5,<2"],
        "bench": ["usearch>=2.16,<3"],
        "test": [
            "pytest>=8,<10",
            "pytest-timeout>=2.3,<3",
            "scikit-learn>=1.4,<2",
            "tensorflow-hub>=0.16.1,<0.17",
            "tf-keras>=2.21,<2.22",
            "ai-edge-litert>=2.0,<3",
            "hypothesis>=6.100,<7",
            "playwright>=1.49,<2",
            "pymilvus>=2.5,<4",
            "milvus-lite>=2.5,<4",
        ],
    },
    entry_points={
        "console_scripts": [
            "sslzoo-train=sslzoo.train.pretrain:run",
            "sslzoo-eval=sslzoo.train.evaluate:run",
            "sslzoo-export=sslzoo.export.main:run",
            "sslzoo-prepare=sslzoo.train.prepare:run",
            "sslzoo-index=sslzoo.train.index:run",
        ],
    },
)
