"""The config of a preference run: the `preference` section of the settings file supplies
its defaults. Kept apart from run.py so that loading the code location never imports torch."""

import dagster as dg

from training_assets.project_settings import section_setter

from_file = section_setter("preference")  # defaults: the settings file, else these
METHODS = ("auto", "dpo", "kto")


class PreferenceConfig(dg.Config):
    # dpo on pairs, kto on unpaired judgements; auto: dpo when there are min_pairs pairs
    method: str = from_file("method", "auto")
    min_pairs: int = from_file("min_pairs", 16)
    beta: float = from_file("beta", 0.1)
    desirable_weight: float = from_file("desirable_weight", 1.0)
    undesirable_weight: float = from_file("undesirable_weight", 1.0)
    learning_rate: float = from_file("learning_rate", 5e-5)
    epochs: float = from_file("epochs", 2.0)
    max_steps: int = from_file("max_steps", 0)  # > 0 overrides epochs
    batch_size: int = from_file("batch_size", 4)
    checkpoint_every: int = from_file("checkpoint_every", 10)
    seed: int = from_file("seed", 0)
    precision: str = from_file("precision", "auto")
    device: str = from_file("device", "auto")
    max_eval_examples: int = from_file("max_eval_examples", 48)  # SFT validation subset
    resume: bool = from_file("resume", True)

    def problems(self) -> list[str]:
        problems = []
        if self.method not in METHODS:
            problems.append(f"method must be one of {METHODS}")
        if self.beta <= 0 or self.learning_rate <= 0:
            problems.append("beta and learning_rate must be positive")
        if self.max_steps <= 0 and self.epochs <= 0:
            problems.append("set epochs > 0 or max_steps > 0")
        for name in ("batch_size", "checkpoint_every", "min_pairs"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive")
        return problems
