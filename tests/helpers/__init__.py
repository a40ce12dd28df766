"""Builders shared by several test modules (frames, files, a literal warehouse).

Test modules import these, never each other: a test module is collected on its own and may be
renamed or split without breaking another file's imports.
"""
