"""The policies of the loop that runs alone, as resources: the UI shows their values on
the sensors and the rotation op that use them, and a deployment sets them in one place
(`build_resources`): an environment setting of `training_assets.settings` when set, else
the project settings file (`deploy.margin`, the `loop` section), else the default.

- `DeployPolicyResource`: the lower bound the best checkpoint's loss-gain interval over
  the deployed model must clear before `best_checkpoint_sensor` deploys it (nats per
  answer token; 0 = the interval excludes 0).
- `RegenerationPolicyResource`: when `low_data_sensor` asks for regeneration (too few
  fresh examples, at most once per cooldown), when for a retrain, and when for a
  preference run (enough new negative judgements, at most once per cooldown).
- `RotationBudgetResource`: the workspace budget, the share that starts a rotation and
  the share a rotation frees down to.
"""

from __future__ import annotations

import dagster as dg

from training_assets.project_settings import setting
from training_assets.rotation.usage import Budget
from training_assets.settings import (
    DEPLOY_MARGIN,
    LOW_DATA_THRESHOLD,
    PREFERENCE_THRESHOLD,
    REGENERATION_COOLDOWN,
    RETRAIN_THRESHOLD,
    ROTATION_TARGET,
    ROTATION_THRESHOLD,
    WORKSPACE_BUDGET,
)


class DeployPolicyResource(dg.ConfigurableResource):
    margin: float = DEPLOY_MARGIN.default

    @classmethod
    def from_settings(cls) -> DeployPolicyResource:
        return cls(margin=DEPLOY_MARGIN.get(setting("deploy", "margin", DEPLOY_MARGIN.default)))


class RegenerationPolicyResource(dg.ConfigurableResource):
    low_data_threshold: float = LOW_DATA_THRESHOLD.default
    retrain_threshold: float = RETRAIN_THRESHOLD.default
    cooldown_seconds: float = REGENERATION_COOLDOWN.default
    preference_threshold: float = PREFERENCE_THRESHOLD.default

    @classmethod
    def from_settings(cls) -> RegenerationPolicyResource:
        def value(env, field: str) -> float:
            return env.get(setting("loop", field, env.default))

        return cls(
            low_data_threshold=value(LOW_DATA_THRESHOLD, "low_data_threshold"),
            retrain_threshold=value(RETRAIN_THRESHOLD, "retrain_threshold"),
            cooldown_seconds=value(REGENERATION_COOLDOWN, "cooldown_seconds"),
            preference_threshold=value(PREFERENCE_THRESHOLD, "preference_threshold"),
        )


class RotationBudgetResource(dg.ConfigurableResource):
    budget: str = WORKSPACE_BUDGET.default  # a size: 200MB, 10GB, 1.5GiB
    threshold: float = ROTATION_THRESHOLD.default
    target: float = ROTATION_TARGET.default

    @classmethod
    def from_settings(cls) -> RotationBudgetResource:
        return cls(
            budget=WORKSPACE_BUDGET.get(),
            threshold=ROTATION_THRESHOLD.get(),
            target=ROTATION_TARGET.get(),
        )

    def get(self) -> Budget:
        """The budget, checked: a BudgetError says what is wrong with it."""
        return Budget.checked(self.budget, self.threshold, self.target)


class SensorIntervals(dg.Config):
    """The least time between two ticks of each sensor of the loop, in seconds (the `loop`
    section of the settings file; a short one for a demo or a test, a long one to spare a
    busy instance). Read when the sensors are defined, at each load of the code location."""

    landing_sensor_interval: int = setting("loop", "landing_sensor_interval", 30)
    low_data_sensor_interval: int = setting("loop", "low_data_sensor_interval", 300)
    best_checkpoint_sensor_interval: int = setting("loop", "best_checkpoint_sensor_interval", 60)
    disk_rotation_sensor_interval: int = setting("loop", "disk_rotation_sensor_interval", 60)
