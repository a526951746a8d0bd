"""The batch partitions: one dynamic partition per landed batch."""

import dagster as dg

from training_assets.versions import curation_code_version

batch_partitions = dg.DynamicPartitionsDefinition(name="batches")
# One run per batch: a batch is the unit of landing, validation and purge.
per_batch_backfill = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)


def keys_in_range(keys: list[str], spec: str) -> list[str]:
    """The batches of `START...END`, both included, in the order they were registered."""
    start, sep, end = spec.partition("...")
    if not sep or not start or not end:
        raise ValueError(f"a partition range is START...END, got {spec!r}")
    missing = [key for key in (start, end) if key not in keys]
    if missing:
        raise ValueError(f"no batch partition {missing[0]!r}")
    first, last = keys.index(start), keys.index(end)
    if last < first:
        raise ValueError(f"{end} was registered before {start}: the range is empty")
    return keys[first : last + 1]


def batch_table_asset(*, group_name: str, kinds: set[str], description: str, **kwargs):
    """@asset for a per-batch table: batch partitions, one run per batch, Parquet storage,
    the code version of its step (training_assets/versions.py)."""

    def decorate(fn):
        return dg.asset(
            partitions_def=batch_partitions,
            backfill_policy=per_batch_backfill,
            group_name=group_name,
            kinds=kinds,
            io_manager_key="parquet_io_manager",
            code_version=curation_code_version(fn.__name__),
            description=description,
            **kwargs,
        )(fn)

    return decorate
