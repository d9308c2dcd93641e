"""socialcredit: an open, auditable social credit registry.

Records are facts appended to a hash-chained ledger; scores, grades, lists and measures are
derived from them under published, versioned rulebooks, and every number explains itself.
"""

__version__ = "0.1.0"
