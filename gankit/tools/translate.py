"""Translated lessons from gettext catalogs: ``gankit translate`` and ``make lab-zh``.

The English notebooks in notebooks/ stay the only source of code. A translation of a
lesson is a gettext catalog, ``i18n/<lang>/NN_name.po`` (for Chinese, ``i18n/zh_CN/``),
the format that translators' tools (Poedit, Weblate, Crowdin) and Sphinx / Jupyter Book
translations already read and write; :mod:`polib` reads and writes it here, nothing is
parsed by hand. Three steps, each a function and a ``gankit translate`` flag:

* :func:`extract` (``--extract``) brings a lesson's catalog in step with its English
  notebook, as gettext's ``msgmerge`` does: a new markdown cell becomes an untranslated
  entry; an entry whose English changed keeps its translation but is marked ``fuzzy``,
  with the English it was made for kept as ``previous_msgid`` (shown as ``#| msgid`` in
  the file, so the translator sees what changed); a cell that is gone becomes obsolete
  (``#~``, kept at the end of the file in case the text comes back).
* :func:`build` (the default) writes ``build/<lang>/NN_name.ipynb``: the English notebook
  with each markdown cell replaced by its translation and nothing else changed — the code
  cells, cell ids, tags, the parameters cell and the metadata are the English ones. It
  refuses, naming the cells, while any translation is missing or fuzzy, unless
  ``allow_missing=True``, which keeps the English text of those cells and says how many.
* :func:`status` (``--status``) counts, per lesson, the messages and how many are
  translated, fuzzy and untranslated, against the current English text.

**The unit of translation is one whole markdown cell**, not one paragraph. A lesson's
cell is short and is one thought; a paragraph split would cut a display formula, a list
or a table away from the sentence that introduces it, and the tests that check a
translation keeps the maths, code spans and links intact (tests/test_i18n.py) compare
one cell with one cell, so every ``$…$`` has its partner in the same message. A
translator also needs the freedom to reorder sentences inside a cell, which Chinese
often does. The price is that a change of one word in a long cell makes the whole cell
fuzzy; the ``#| msgid`` line shows exactly which word.

Each entry's ``msgctxt`` is the cell's id (nbformat ≥ 4.5 gives every cell a stable
one), so two cells with the same English (two "## Summary" headings, say) stay two
entries, and a moved cell keeps its translation. If a cell's id changed but its English
did not (a cell cut and pasted), the translation follows the text.

What the code says — the lesson checks' and the exercise checks' messages — is translated
at run time instead, from ``i18n/<lang>/checks/*.po`` (:mod:`gankit._i18n`; the catalogs are
written from the code by :mod:`gankit.tools.messages`, ``--extract-messages``). The figures'
labels and what a lesson's own code prints stay English, and the first cell says so.

    from gankit.tools import translate
    translate.extract("zh_CN", ["01"])        # create or update i18n/zh_CN/01_gan_fundamentals.po
    translate.status("zh_CN")                 # {lesson name: LessonStatus(...)}
    translate.build("zh_CN", ["01"])          # build/zh_CN/01_gan_fundamentals.ipynb
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import nbformat
import polib

from gankit.tools.lessons import NOTEBOOK_DIR, select_lessons

__all__ = ["I18N_DIR", "LANGUAGES", "TranslationError", "LessonStatus", "BuiltLesson", "catalog_path",
           "merge", "extract", "status", "build", "translation_language", "output_stem"]

I18N_DIR = Path(__file__).resolve().parents[2] / "i18n"
LANGUAGES = {"zh_CN": {
    "name": "简体中文", "plural_forms": "nplurals=1; plural=0;",
    # added to the end of a translated lesson's first cell: what the translation does not cover. The
    # figures' labels and what the lesson's own code prints come from code, which stays English (one
    # source of code); the checks' messages are translated at run time (gankit._i18n, i18n/zh_CN/checks/)
    "note": ("> **关于中文版：** 本课的文字，以及课程检查与练习检查给出的提示信息，都已译成中文"
             "（在 JupyterLab 中打开或用 `gankit run` 运行本课时）。代码、代码注释、代码自己打印的其他内容，"
             "以及图表中的坐标轴标签与图例仍为英文，与英文版完全一致。"),
    # a student version's stub for a written answer (gankit student), in place of "*Write your answer here.*"
    "answer_placeholder": "*在这里写下你的答案。*",
}}
WRAP_WIDTH = 78  # gettext's own width, so that a catalog saved by Poedit or msgcat changes little


class TranslationError(ValueError):
    """A translation that cannot be built as asked: missing or out-of-date cells, no catalog."""


@dataclass(frozen=True)
class LessonStatus:
    """How far the translation of one lesson is, against its current English notebook."""

    lesson: str
    has_catalog: bool
    messages: int  # markdown cells in the English lesson
    translated: int  # translated for the English as it is now
    fuzzy: int  # translated for an older English text (or marked fuzzy by a translator)
    untranslated: int

    @property
    def complete(self) -> bool:
        return self.has_catalog and self.translated == self.messages


@dataclass(frozen=True)
class BuiltLesson:
    lesson: str
    path: Path
    translated: int
    kept_english: list[str]  # cell ids whose English text was kept (allow_missing)


def translation_language(nb: nbformat.NotebookNode) -> str | None:
    """The language of a notebook written by :func:`build` (its metadata says so), else None."""
    return nb.get("metadata", {}).get("gankit", {}).get("translation", {}).get("language")


def output_stem(nb: nbformat.NotebookNode, path: str | Path) -> str:
    """The file stem that ``gankit run`` and ``gankit student`` give what they write from the
    notebook at ``path``: its own stem, with ``.<lang>`` added for a translated lesson
    (``01_gan_fundamentals.zh_CN``), so that the Chinese run or student version does not
    overwrite the English one in the same output folder."""
    lang = translation_language(nb)
    return f"{Path(path).stem}.{lang}" if lang else Path(path).stem


def _check_language(lang: str) -> None:
    if lang not in LANGUAGES:
        raise TranslationError(f"No translation set up for language {lang!r}; known: {', '.join(LANGUAGES)}. "
                               f"A new language needs an entry in gankit.tools.translate.LANGUAGES "
                               f"(its plural forms) and a folder i18n/{lang}/.")


def catalog_path(lang: str, lesson: str | Path, i18n_dir: str | Path | None = None) -> Path:
    """``i18n/<lang>/<lesson stem>.po``."""
    return Path(i18n_dir if i18n_dir is not None else I18N_DIR) / lang / f"{Path(lesson).stem}.po"


def _translatable(cell: nbformat.NotebookNode) -> bool:
    """A markdown cell with text (an empty one has nothing to translate, and an empty msgid
    is the catalog's header in gettext)."""
    return cell.cell_type == "markdown" and bool(cell.source.strip())


def _markdown_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    cells = [cell for cell in nb.cells if _translatable(cell)]
    missing = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "markdown" and not cell.get("id")]
    if missing:
        raise TranslationError(f"markdown cell(s) {missing} have no cell id: save the notebook with nbformat >= 4.5 "
                               f"(nbformat.validator.normalize gives every cell one) before extracting.")
    return cells


def _new_catalog(lang: str, lesson: str) -> polib.POFile:
    po = polib.POFile(wrapwidth=WRAP_WIDTH)
    po.header = (f"{LANGUAGES[lang]['name']} translation of gankit lesson {lesson}.\n"
                 f"Edit the msgstr entries only; `gankit translate --lang {lang} --extract` keeps the msgid\n"
                 f"entries in step with notebooks/{lesson}.ipynb.")
    po.metadata = {
        "Project-Id-Version": f"gankit {lesson}",
        "Language": lang,
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Transfer-Encoding": "8bit",
        "Plural-Forms": LANGUAGES[lang]["plural_forms"],
    }
    return po


def merge(nb: nbformat.NotebookNode, catalog: polib.POFile | None, lang: str, lesson: str) -> polib.POFile:
    """A new catalog for the markdown cells of ``nb``, carrying over what ``catalog`` (the
    old one, or None) has: the same cell id with the same English keeps its translation;
    the same cell id with other English keeps it as fuzzy with ``previous_msgid``; a cell
    whose id is new but whose English is an old entry's takes that translation; entries
    left over become obsolete. The entries follow the notebook's order."""
    old = list(catalog) if catalog is not None else []
    by_context = {e.msgctxt: e for e in old if e.msgctxt is not None}
    po = _new_catalog(lang, lesson)
    if catalog is not None:  # keep the translator's header and metadata (Last-Translator, ...)
        po.header = catalog.header or po.header
        po.metadata = {**po.metadata, **catalog.metadata, "Language": lang}
    used = set()
    cells = _markdown_cells(nb)
    ids = {cell.id for cell in cells}
    for cell in cells:
        entry = polib.POEntry(msgctxt=cell.id, msgid=cell.source, msgstr="")
        before = by_context.get(cell.id)
        if before is None:  # a cell id never seen: the same English under a vanished id?
            before = next((e for e in old if id(e) not in used and e.msgid == cell.source
                           and e.msgctxt not in ids), None)
        if before is not None:
            used.add(id(before))
            entry.msgstr = before.msgstr
            entry.tcomment = before.tcomment
            entry.flags = [f for f in before.flags if f != "fuzzy"]
            if before.msgid != cell.source and before.msgstr:
                entry.flags.append("fuzzy")
                entry.previous_msgid = before.previous_msgid if before.fuzzy and before.previous_msgid \
                    else before.msgid  # what the translation was made for, however many edits ago
            elif before.fuzzy and before.msgstr:  # still fuzzy until a translator says otherwise
                entry.flags.append("fuzzy")
                entry.previous_msgid = before.previous_msgid
        po.append(entry)
    for e in old:
        if id(e) not in used and e.msgstr:  # an untranslated entry that vanished is not worth keeping
            gone = copy.copy(e)
            gone.obsolete = True
            po.append(gone)
    return po


def _lessons(lessons: Iterable[str] | None, notebook_dir: Path, i18n_dir: Path, lang: str) -> list[Path]:
    """The English notebooks asked for; nothing asked for means every lesson with a catalog."""
    if lessons:
        return select_lessons(list(lessons), notebook_dir)
    return [p for p in select_lessons(None, notebook_dir) if catalog_path(lang, p, i18n_dir).is_file()]


def _read_catalog(path: Path) -> polib.POFile:
    try:
        return polib.pofile(str(path), wrapwidth=WRAP_WIDTH)
    except (OSError, ValueError) as exc:
        raise TranslationError(f"{path} is not a readable gettext catalog ({exc}). Check it with "
                               f"`msgfmt --check {path}` or open it in Poedit.") from exc


def extract(lang: str, lessons: Iterable[str] | None = None, *, notebook_dir: str | Path | None = None,
            i18n_dir: str | Path | None = None) -> dict[str, LessonStatus]:
    """Create or update ``i18n/<lang>/NN_name.po`` from the English notebooks (see
    :func:`merge`). ``lessons``: numbers, name prefixes or notebook files; None updates the
    catalogs that exist (a lesson's first catalog is made by naming the lesson). Returns
    the status of each catalog written."""
    _check_language(lang)
    notebook_dir = Path(notebook_dir) if notebook_dir is not None else NOTEBOOK_DIR
    i18n_dir = Path(i18n_dir) if i18n_dir is not None else I18N_DIR
    result = {}
    for path in _lessons(lessons, notebook_dir, i18n_dir, lang):
        target = catalog_path(lang, path, i18n_dir)
        old = _read_catalog(target) if target.is_file() else None
        po = merge(nbformat.read(path, as_version=4), old, lang, path.stem)
        target.parent.mkdir(parents=True, exist_ok=True)
        po.save(str(target))
        result[path.stem] = _count(path.stem, po)
    return result


def _count(lesson: str, po: polib.POFile | None, messages: int | None = None) -> LessonStatus:
    if po is None:
        return LessonStatus(lesson, False, messages or 0, 0, 0, messages or 0)
    live = [e for e in po if not e.obsolete]
    fuzzy = sum(1 for e in live if e.fuzzy and e.msgstr)
    translated = sum(1 for e in live if e.translated())
    return LessonStatus(lesson, True, len(live), translated, fuzzy, len(live) - translated - fuzzy)


def status(lang: str, lessons: Iterable[str] | None = None, *, notebook_dir: str | Path | None = None,
           i18n_dir: str | Path | None = None) -> dict[str, LessonStatus]:
    """Per lesson (every lesson when ``lessons`` is None, with or without a catalog): its
    markdown cells and how many are translated, fuzzy and untranslated, measured against
    the English notebook as it is now — a translation made for an older English text
    counts as fuzzy even before ``extract`` has marked it. Writes nothing."""
    _check_language(lang)
    notebook_dir = Path(notebook_dir) if notebook_dir is not None else NOTEBOOK_DIR
    i18n_dir = Path(i18n_dir) if i18n_dir is not None else I18N_DIR
    result = {}
    for path in select_lessons(list(lessons) if lessons else None, notebook_dir):
        nb = nbformat.read(path, as_version=4)
        target = catalog_path(lang, path, i18n_dir)
        if not target.is_file():
            result[path.stem] = _count(path.stem, None, len(_markdown_cells(nb)))
            continue
        result[path.stem] = _count(path.stem, merge(nb, _read_catalog(target), lang, path.stem))
    return result


def _translated_notebook(nb: nbformat.NotebookNode, po: polib.POFile, lang: str,
                         source: str) -> tuple[nbformat.NotebookNode, int, list[tuple[str, str]]]:
    """``nb`` with its markdown translated from ``po`` (already merged with ``nb``); the
    count translated, and (cell id, reason) for each cell left in English. The first markdown
    cell, when translated, ends with the language's note on what stays English."""
    entries = {e.msgctxt: e for e in po if not e.obsolete}
    out = copy.deepcopy(nb)
    done, missing = 0, []
    first = True
    for cell in out.cells:
        if not _translatable(cell):
            continue
        entry = entries[cell.id]
        if entry.translated():
            cell.source = entry.msgstr
            if first and LANGUAGES[lang].get("note"):  # what stays English, said once, in the introduction
                cell.source = cell.source.rstrip() + "\n\n" + LANGUAGES[lang]["note"]
            done += 1
        else:
            missing.append((cell.id, "fuzzy (English changed since it was translated)" if entry.fuzzy and entry.msgstr
                            else "untranslated"))
        first = False
    out.metadata.setdefault("gankit", {})["translation"] = {
        "language": lang, "source": source,
        "note": f"Built by `gankit translate --lang {lang}`; edit i18n/{lang}/*.po, not this file.",
    }
    return out, done, missing


def build(lang: str, lessons: Iterable[str] | None = None, out: str | Path = "build/zh_CN", *,
          allow_missing: bool = False, notebook_dir: str | Path | None = None,
          i18n_dir: str | Path | None = None) -> list[BuiltLesson]:
    """Write the translated lessons into ``out`` (same file names as notebooks/). The code
    cells, cell ids, tags, parameters cell and metadata are the English notebook's; each
    markdown cell is its catalog's translation. ``lessons`` None means every lesson that has
    a catalog.

    Refuses (:class:`TranslationError`, naming the cells) when a cell is untranslated or
    fuzzy, or a lesson asked for has no catalog, unless ``allow_missing``: then those cells
    keep their English text (a lesson without a catalog is copied in English) and the
    returned :class:`BuiltLesson` lists them. Nothing is written unless every lesson can be."""
    _check_language(lang)
    notebook_dir = Path(notebook_dir) if notebook_dir is not None else NOTEBOOK_DIR
    i18n_dir = Path(i18n_dir) if i18n_dir is not None else I18N_DIR
    paths = _lessons(lessons, notebook_dir, i18n_dir, lang)
    if not paths:
        raise TranslationError(f"No lesson has a catalog in {i18n_dir / lang} yet. Start one with "
                               f"`gankit translate --lang {lang} NN --extract` (NN: the lesson number).")
    out = Path(out)
    planned, problems = [], []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        target = catalog_path(lang, path, i18n_dir)
        po = merge(nb, _read_catalog(target) if target.is_file() else None, lang, path.stem)
        try:
            source = str(path.resolve().relative_to(notebook_dir.resolve().parent))
        except ValueError:
            source = path.name
        built, done, missing = _translated_notebook(nb, po, lang, source)
        if (out / path.name).resolve() == path.resolve():
            raise TranslationError(f"Refusing to write the translation over the English lesson {path}: "
                                   f"choose another output folder.")
        if missing and not allow_missing and not target.is_file():
            problems.append(f"  {path.stem}: no catalog yet (start it with `gankit translate --lang {lang} "
                            f"{path.stem[:2]} --extract`)")
        elif missing and not allow_missing:
            where = f"{target}"
            cells = "\n".join(f"    cell {cell_id}: {reason}" for cell_id, reason in missing)
            problems.append(f"  {path.stem} ({where}): {len(missing)} of {done + len(missing)} markdown cells "
                            f"not translated for the current English:\n{cells}")
        planned.append((path, built, done, missing))
    if problems:
        raise TranslationError(
            f"Cannot build the {LANGUAGES[lang]['name']} lessons yet:\n" + "\n".join(problems) + "\n"
            f"Run `gankit translate --lang {lang} <lessons> --extract` to bring the catalogs in step, translate "
            f"(or review the fuzzy entries: their '#| msgid' shows the English they were made for), or pass "
            f"--allow-missing to keep the English text of these cells.")
    out.mkdir(parents=True, exist_ok=True)
    result = []
    for path, built, done, missing in planned:
        nbformat.write(built, out / path.name)
        result.append(BuiltLesson(path.stem, out / path.name, done, [cell_id for cell_id, _ in missing]))
    return result
