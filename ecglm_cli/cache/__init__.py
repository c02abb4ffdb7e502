"""The local model cache: `resolve()` for every command, `ecglm download` underneath.

See docs/models.md for the layout, the registry, offline mode and the security rules.
"""

from ecglm_cli.cache.resolve import resolve

__all__ = ["resolve"]
