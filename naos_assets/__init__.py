"""The Dagster layer: assets (one folder per stage), partitions, jobs, definitions and the `naos` CLI.

It wires the engines together and holds no domain logic.
"""
