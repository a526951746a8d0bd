"""The model-side helpers that training, evaluation, deploy and feedback share: the
batch tensors, answer-token losses, greedy generation and autocast. They sit below
the stages, so each stage imports down to them and never across to another stage."""

# A label position that carries no loss (prompt tokens, padding). Kept here, free of torch,
# so the dataset code (loaded with the code location) can use it without importing torch.
IGNORE_INDEX = -100
