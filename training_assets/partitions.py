"""The batch partitions: one dynamic partition per landed batch."""

import dagster as dg

batch_partitions = dg.DynamicPartitionsDefinition(name="batches")
# One run per batch: a batch is the unit of landing, validation and purge.
per_batch_backfill = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)
