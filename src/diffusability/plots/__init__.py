"""Figures of the paper, drawn from the tidy CSVs under results/ only."""
