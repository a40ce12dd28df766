"""Normalisation layer: vectorised parsers for identity numbers, names and delivered values.

Used by the clean stage and reusable by matching (check digits, name folding, pinyin).
"""
