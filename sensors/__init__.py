"""Sensors and schedules of the code location."""

from sensors.landing_sensor import landing_sensor

__all__ = ["landing_sensor"]
