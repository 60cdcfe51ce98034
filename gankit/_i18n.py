"""The language of the messages that gankit's code prints: the checks' hints and the lesson checks.

The lessons' text is translated cell by cell (:mod:`gankit.tools.translate`); what the code says
is translated here, with gettext catalogs too: ``i18n/<lang>/checks/*.po``, one per checks module
(``gan.po``) and one per lesson for the messages of its lesson checks (``01_gan_fundamentals.po``).
``gankit translate --lang zh_CN --extract`` brings them in step with the code.

A message is written in English as a ``str.format`` template and translated *before* its values
are filled in, so that one msgid serves every run::

    from gankit._i18n import tr
    raise CheckFailed(tr("{name} should return a tensor, got {kind}.", name=name, kind=type(out).__name__))

The language is, in this order: the one given to :func:`set_language`; the environment variable
``GANKIT_LANG`` (``make lab-zh`` and ``gankit run`` of a translated lesson set it); the language
of the notebook that JupyterLab runs this kernel for, when that notebook was built by ``gankit
translate`` (JupyterLab names it in ``JPY_SESSION_NAME``); else English. A message without a
translation stays English; it never fails.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import polib

__all__ = ["ENGLISH", "I18N_DIR", "language", "set_language", "gettext", "tr", "join_clauses"]

ENGLISH = "en"
I18N_DIR = Path(__file__).resolve().parents[1] / "i18n"
_chosen: str | None = None
# How a language separates clauses in a list of findings (English "; "; Chinese the full-width "；").
_CLAUSE_SEPARATORS = {"zh_CN": "；"}


def set_language(lang: str | None) -> None:
    """Translate gankit's messages into ``lang`` (``"zh_CN"``; ``"en"`` for English) from now on in
    this process; ``None`` goes back to the environment's choice. An unknown language is refused,
    naming the known ones."""
    global _chosen
    if lang is not None and lang != ENGLISH and lang not in available_languages():
        known = ", ".join([ENGLISH, *available_languages()])
        raise ValueError(f"no translation of gankit's messages into {lang!r}: the known languages are {known} "
                         f"(catalogs in {I18N_DIR}/<lang>/checks/)")
    _chosen = lang


def available_languages() -> list[str]:
    """The languages that have message catalogs, e.g. ``["zh_CN"]``."""
    if not I18N_DIR.is_dir():
        return []
    return sorted(p.parent.name for p in I18N_DIR.glob("*/checks") if p.is_dir())


def _notebook_language(session_name: str) -> str | None:
    """The translation language recorded in the metadata of the notebook at ``session_name``."""
    path = Path(session_name)
    if path.suffix != ".ipynb" or not path.is_file():
        return None
    try:
        metadata = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, ValueError):
        return None
    return metadata.get("gankit", {}).get("translation", {}).get("language")


def language() -> str:
    """The language gankit's messages are in now: ``"en"`` or a catalog's language such as ``"zh_CN"``."""
    if _chosen is not None:
        return _chosen
    lang = os.environ.get("GANKIT_LANG", "").strip()
    if not lang:
        session = os.environ.get("JPY_SESSION_NAME", "")
        lang = (_notebook_language(session) if session else None) or ENGLISH
    return lang.split(".")[0]  # zh_CN.UTF-8, as in LANG, is zh_CN


@lru_cache(maxsize=None)
def _catalog(lang: str) -> dict[str, str]:
    """msgid -> msgstr of every translated, non-fuzzy message of ``lang``'s catalogs."""
    messages: dict[str, str] = {}
    for path in sorted((I18N_DIR / lang / "checks").glob("*.po")):
        for entry in polib.pofile(str(path)):
            if entry.msgstr and not entry.fuzzy and not entry.obsolete:
                messages[entry.msgid] = entry.msgstr
    return messages


def gettext(message: str) -> str:
    """``message`` in the current language, or as it is when it has no translation."""
    lang = language()
    if lang == ENGLISH:
        return message
    return _catalog(lang).get(message, message)


def tr(template: str, /, **values: object) -> str:
    """``template`` translated, then filled in with ``values`` (``str.format``: ``{loss:.3f}``)."""
    text = gettext(template)
    return text.format(**values) if values else text


def join_clauses(clauses, /) -> str:
    """Translated clauses joined as the current language writes a list of findings: "a; b"
    in English, "a；b" in Chinese (an English "; " between Chinese clauses reads as a slip)."""
    return _CLAUSE_SEPARATORS.get(language(), "; ").join(clauses)
