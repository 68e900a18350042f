"""A topic's word cloud as a PNG data URI, rendered with the topic model (training), not per request.

Rendering loads wordcloud, matplotlib and Pillow (about 36 MB in a process), so the explorer data
carries each topic's image (:func:`engine.topics.explorer.build_explorer_data`) and a web worker
only renders for a bundle written before it did.
"""
from __future__ import annotations

import base64
import functools
import io

#: size of a topic's word cloud on the explorer page, in pixels
WIDTH, HEIGHT = 520, 300


def word_cloud_image(weights: dict[str, float], width: int = WIDTH, height: int = HEIGHT) -> str | None:
    """Term weights as a PNG word cloud: a ``data:image/png;base64,...`` URI (None without a positive
    weight). Deterministic (fixed random state), so images are memoised per (terms, size)."""
    terms = tuple(sorted((str(k).replace("_", " "), float(v)) for k, v in weights.items() if float(v) > 0))
    return _render(terms, width, height) if terms else None


@functools.lru_cache(maxsize=128)
def _render(terms: tuple, width: int, height: int) -> str:
    from wordcloud import WordCloud  # matplotlib and Pillow: only where an image is rendered

    cloud = WordCloud(width=width, height=height, background_color="white", colormap="Blues",
                      prefer_horizontal=0.95, random_state=0, max_words=60).generate_from_frequencies(dict(terms))
    buffer = io.BytesIO()
    cloud.to_image().save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
