"""seqlab: course pack for the sequence-models week (assignments, isolated autograder, quiz).

Kept import-light on purpose: `quiz` must start without torch or nbformat.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
