"""Plain-Python engines (no Dagster): writing, canon, film, media, audio, video. Each usable alone (seed §18)."""
