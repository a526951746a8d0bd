"""Sensors and schedules of the code location."""

from sensors.best_checkpoint_sensor import best_checkpoint_sensor
from sensors.disk_rotation_sensor import disk_rotation_sensor
from sensors.landing_sensor import landing_sensor
from sensors.low_data_sensor import low_data_sensor
from sensors.schedules import nightly_curation_schedule, weekly_retrain_schedule

__all__ = [
    "best_checkpoint_sensor",
    "disk_rotation_sensor",
    "landing_sensor",
    "low_data_sensor",
    "nightly_curation_schedule",
    "weekly_retrain_schedule",
]
