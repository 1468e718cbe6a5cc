"""pytest plugin for gradcheck (registered through the ``pytest11`` entry point).

Kept cheap to import: nothing heavy is imported at module level.
"""
