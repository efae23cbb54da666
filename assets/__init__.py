"""Data files the runtime reads beside its code (glossary, colours, schema, templates, prompts, evaluation sets):
a package only so that an installed wheel carries them next to engine/ and desktop/, where the code looks."""
