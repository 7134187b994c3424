"""A partitioned check keeps its episode in the runs an asset backfill launches (a one-key partition range), where
Dagster 1.13 would record it without one; and is left to Dagster in an ordinary partitioned run."""

from __future__ import annotations

import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    DagsterEventType,
    DagsterInstance,
    DynamicPartitionsDefinition,
    Output,
    asset,
    materialize,
)

from naos_assets.stage import RANGE_END_TAG, RANGE_START_TAG, episode_check

parts = DynamicPartitionsDefinition(name="eps")


@asset(partitions_def=parts, check_specs=[AssetCheckSpec("loud", asset="clip", partitions_def=parts)])
def clip(context):
    yield Output(1)
    yield from episode_check(context, AssetCheckResult(check_name="loud", passed=False,
                                                       severity=AssetCheckSeverity.WARN, metadata={"lufs": -20.5}))


@pytest.mark.parametrize("tags", [{RANGE_START_TAG: "s01e02", RANGE_END_TAG: "s01e02"}, {}],
                         ids=["backfill run", "partitioned run"])
def test_the_check_evaluation_names_the_episode(tags):
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("eps", ["s01e01", "s01e02"])
    result = materialize([clip], instance=instance, tags=tags, partition_key=None if tags else "s01e02")
    assert result.success
    (event,) = [e for e in instance.all_logs(result.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)]
    evaluation = event.dagster_event.event_specific_data
    assert (evaluation.check_name, evaluation.passed, evaluation.partition) == ("loud", False, "s01e02")
    assert evaluation.metadata["lufs"].value == -20.5
