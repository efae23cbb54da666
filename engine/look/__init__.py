"""The look: every garment in a frame with its colours, attributes and catalog matches (``look_at``), and the
per-video index that answers "find it in this video" (``VideoIndex``, ``find``)."""
