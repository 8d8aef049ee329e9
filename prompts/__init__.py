"""Floor 0 resources: the versioned prompt templates (``<id>.<lang>.v<N>.md``) and relation lexicons
(``lexicon/``), shipped inside the wheel as package data and read through :mod:`importlib.resources`."""
