"""Landing: input files, their formats, and how they are cut into batches."""
