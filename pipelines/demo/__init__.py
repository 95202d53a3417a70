"""``castlist demo``: a whole run on a synthetic episode built from the bundled voices in
``data/``."""
