"""Sensors and schedules of the code location."""

from sensors.best_checkpoint_sensor import best_checkpoint_sensor
from sensors.landing_sensor import landing_sensor

__all__ = ["best_checkpoint_sensor", "landing_sensor"]
