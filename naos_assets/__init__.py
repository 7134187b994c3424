"""The Dagster layer: assets (one folder per stage), partitions, jobs, definitions and the `naos` CLI.

It wires the engines together and holds no domain logic.
"""

import warnings

# Output(data_version=...) is how NAOS hands Dagster each artifact's content hash; its "beta" notice is noise.
warnings.filterwarnings("ignore", message="Parameter `data_version`")
# Per-episode asset checks (AssetCheckSpec(partitions_def=...)) are a preview API in Dagster 1.13.27; chosen on purpose.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec")
# The authored files are observable source assets (naos_assets/sources.py), a beta API in 1.13.
warnings.filterwarnings("ignore", message="Function `observable_source_asset` is currently in beta")
