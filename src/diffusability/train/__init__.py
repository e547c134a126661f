"""Training loops (autoencoders) and the checkpoint/EMA machinery they share."""
