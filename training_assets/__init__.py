"""training-assets: interaction logs to a fine-tuned, evaluated, deployed LLM, as Dagster assets."""

from training_assets.quiet import quiet_libraries

quiet_libraries()
