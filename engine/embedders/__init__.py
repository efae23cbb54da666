"""One module per embedder; each exposes ``image_embedder(settings, threads, progress)`` and/or
``text_embedder(settings, threads)`` (engine.embed loads them by name)."""
