"""One module per embedder; each exposes ``image_embedder(settings, threads, progress)`` and/or
``text_embedder(settings, threads)`` (engine.catalog.embed loads them by name)."""
