"""Pandera models: one per source for the clean layer, one per published warehouse table."""
