"""One partition per episode, registered from the project file (by `naos render` and the project sensor)."""

from dagster import DynamicPartitionsDefinition

episodes = DynamicPartitionsDefinition(name="episodes")
