"""The §13 queues as Dagster concurrency pools, sized as §29.2 says, across every run on the instance.

| pool | what runs in it |
|---|---|
| cpu_queue | ffmpeg (shot clips, the mix, the episode and season encodes), validation (canon, the gate), shot planning |
| local_ai_queue | local models: planning and script writing, recall embeddings, TTS |
| media_queue | asset search, retrieval, caching and licence checks (`render_plan`), publish |
| external_ai_queue | paid external providers (none is its own step yet; see docs/OPERATIONS.md, "Queues") |

Dagster keeps pool limits in the instance, not in dagster.yaml (which sets only the default for a pool nobody sized):
`naos` applies these sizes to any pool still on that default, so a limit set in the UI or with `dagster instance
concurrency set` stays as set. NAOS_QUEUE_<NAME> (e.g. NAOS_QUEUE_CPU_QUEUE=4) overrides a size.

Under the Celery executor each step is also a message on the Celery queue of the same name (the op tag
`dagster-celery/queue`), so a worker started with `naos worker --queues media_queue` runs only media steps; the pool
still bounds how many of them run at once across the instance. `on_queue` sets both, so they cannot disagree.
"""

from __future__ import annotations

import os

CPU_QUEUE, LOCAL_AI_QUEUE, MEDIA_QUEUE, EXTERNAL_AI_QUEUE = "cpu_queue", "local_ai_queue", "media_queue", "external_ai_queue"
# §29.2: cpu 2-4 (scale with cores: this machine has 2), local AI 1 per accelerator (none: 1), media and external
# bounded by I/O and providers' rate limits
SIZES = {CPU_QUEUE: 2, LOCAL_AI_QUEUE: 1, MEDIA_QUEUE: 4, EXTERNAL_AI_QUEUE: 2}
QUEUES = tuple(SIZES)
# dagster_celery.tags.DAGSTER_CELERY_QUEUE_TAG (spelled out: the asset modules need not import Celery)
CELERY_QUEUE_TAG = "dagster-celery/queue"
# Steps that take no slot (the §27 checkpoints, the shot fan-out and collect steps: bookkeeping, milliseconds)
# still need a Celery queue: the CPU one, which every deployment runs a worker for.
DEFAULT_QUEUE = CPU_QUEUE


def on_queue(pool: str | None, *, op: bool = False) -> dict:
    """Decorator keywords putting a step in `pool` and on the Celery queue of the same name (DEFAULT_QUEUE when
    it takes no slot): `@asset(..., **on_queue(CPU_QUEUE))`, `@op(..., **on_queue(CPU_QUEUE, op=True))`."""
    if pool is not None and pool not in SIZES:
        raise ValueError(f"unknown queue {pool!r} (one of {', '.join(QUEUES)})")
    tags = {CELERY_QUEUE_TAG: pool or DEFAULT_QUEUE}
    return {"pool": pool, "tags" if op else "op_tags": tags}


def queue_sizes() -> dict[str, int]:
    sizes = {}
    for name, default in SIZES.items():
        raw = os.environ.get(f"NAOS_QUEUE_{name.upper()}", "")
        try:
            sizes[name] = int(raw) if raw.strip() else default
        except ValueError:
            raise ValueError(f"NAOS_QUEUE_{name.upper()}: {raw!r} is not a whole number of slots") from None
        if sizes[name] < 1:
            raise ValueError(f"NAOS_QUEUE_{name.upper()}: a queue needs at least one slot, got {sizes[name]}")
    return sizes


def apply_queue_sizes(instance) -> dict[str, int]:
    """Size every NAOS pool that has no explicit limit on this instance; returns each pool's limit in force."""
    storage = instance.event_log_storage
    explicit = {p.name: p.limit for p in storage.get_pool_limits() if not p.from_default}
    limits = {}
    for name, size in queue_sizes().items():
        if name not in explicit:
            storage.set_concurrency_slots(name, size)
        limits[name] = explicit.get(name, size)
    return limits
