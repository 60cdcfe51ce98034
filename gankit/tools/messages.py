"""The catalogs of what gankit's code says: the checks' messages and the lessons' lesson checks.

:mod:`gankit._i18n` translates a message at run time from ``i18n/<lang>/checks/<source>.po``;
this module writes those catalogs from the code, as ``xgettext`` and ``msgmerge`` would, by
reading the code with :mod:`ast` (nothing is run):

* a source is a checks module (``gankit/checks/gan.py`` → ``gan.po``) or a lesson
  (``notebooks/01_gan_fundamentals.ipynb`` → ``01_gan_fundamentals.po``, its code cells);
* a message is the first argument of a ``tr(...)`` call and the ``passed`` and ``failed``
  templates of a ``lesson_check(...)`` call, when they are string literals;
* :func:`untemplated` finds the messages that cannot be translated because they are built
  before translation (an f-string handed to ``lesson_check`` or ``CheckFailed``, a
  ``print(f"...")`` in a check): tests/test_i18n.py fails on each, naming the line.

Merging keeps the translation of every message whose English is unchanged; a new message
whose English is close to a vanished one's (a word changed) takes that translation marked
``fuzzy``, with the old English as ``previous_msgid``; other vanished messages are dropped.
``gankit translate --lang zh_CN --extract`` runs :func:`extract_messages` for every source.
"""

from __future__ import annotations

import ast
import difflib
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import nbformat
import polib

from gankit._i18n import I18N_DIR
from gankit.tools.lessons import NOTEBOOK_DIR, select_lessons
from gankit.tools.translate import WRAP_WIDTH, _read_catalog

__all__ = ["CHECKS_DIR", "Message", "sources", "collect", "untemplated", "catalog_path", "merge_messages",
           "extract_messages", "message_status", "placeholders"]

CHECKS_DIR = Path(__file__).resolve().parents[1] / "checks"
_MAGIC = re.compile(r"^\s*[%!]")


@dataclass(frozen=True)
class Message:
    msgid: str
    where: str  # "gankit/checks/gan.py:120" or "notebooks/01_gan_fundamentals.ipynb, cell 4a1b"


def sources(names: Iterable[str] | None = None, *, checks_dir: Path | None = None,
            notebook_dir: Path | None = None) -> dict[str, Path]:
    """Catalog name -> source file: every checks module and every lesson, or those named (a module
    name such as ``gan``, a lesson number such as ``01``)."""
    checks_dir = checks_dir or CHECKS_DIR
    notebook_dir = notebook_dir or NOTEBOOK_DIR
    modules = {p.stem: p for p in sorted(checks_dir.glob("*.py")) if p.stem != "__init__"}
    if names is None:
        return {**modules, **{p.stem: p for p in select_lessons(None, notebook_dir)}}
    found: dict[str, Path] = {}
    lessons = []
    for name in names:
        if name in modules:
            found[name] = modules[name]
        else:
            lessons.append(name)
    if lessons:
        try:
            found.update({p.stem: p for p in select_lessons(lessons, notebook_dir)})
        except (FileNotFoundError, ValueError) as exc:
            raise ValueError(f"{exc} (a message source is a lesson or a checks module: "
                             f"{', '.join(modules)})") from None
    return found


def _code_blocks(path: Path) -> Iterator[tuple[str, str, int]]:
    """(code, label, first line) of a Python file, or of each code cell of a notebook."""
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                code = "\n".join("" if _MAGIC.match(line) else line for line in cell.source.splitlines())
                yield code, f"{path.parent.name}/{path.name}, cell {cell.get('id', '?')}", 1
    else:
        yield path.read_text(encoding="utf-8"), f"{path.parent.parent.name}/{path.parent.name}/{path.name}", 1


def _called(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _message_args(node: ast.Call) -> list[ast.expr]:
    """The arguments of a call that are messages to translate."""
    name = _called(node)
    if name in ("tr", "gettext"):
        return node.args[:1]
    if name == "lesson_check":
        return list(node.args[1:3])  # passed and failed are positional-only
    return []


def collect(path: Path) -> list[Message]:
    """The messages of one source, in the order of the code, each once."""
    found = []
    for block, (code, label, _) in enumerate(_code_blocks(path)):
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Call):
                for arg in _message_args(node):
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        where = label if path.suffix == ".ipynb" else f"{label}:{arg.lineno}"
                        found.append(((block, arg.lineno, arg.col_offset), Message(arg.value, where)))
    seen: dict[str, Message] = {}
    for _, message in sorted(found, key=lambda item: item[0]):
        seen.setdefault(message.msgid, message)
    return list(seen.values())


def untemplated(path: Path) -> list[str]:
    """Where ``path`` hands over a message that is built before it could be translated: an
    f-string (or other expression) as a ``lesson_check`` template, a ``CheckFailed`` or
    ``print`` of an f-string or plain string in a checks module; and where a ``tr`` or
    ``lesson_check`` template names a value that the call does not pass (a KeyError waiting
    for the day the check runs)."""
    found = []
    is_module = path.suffix == ".py"
    for code, label, _ in _code_blocks(path):
        for node in ast.walk(ast.parse(code)):
            if not isinstance(node, ast.Call):
                continue
            name = _called(node)
            where = f"{label}:{node.lineno}" if is_module else f"{label}, line {node.lineno}"
            if name in ("tr", "lesson_check") and not any(k.arg is None for k in node.keywords):
                given = {k.arg for k in node.keywords}
                for arg in _message_args(node):
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and (given or name == "lesson_check"):
                        try:
                            fields = {re.split(r"[.\[]", field)[0] for field, _ in placeholders(arg.value)}
                        except ValueError as exc:
                            found.append((node.lineno, f"{where}: {exc}"))
                            continue
                        if fields - given:
                            found.append((node.lineno, f"{where}: {name}'s template needs "
                                                       f"{', '.join(sorted(fields - given))}, not passed as keywords"))
            if name == "lesson_check":
                for arg in _message_args(node):
                    if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                        found.append((node.lineno, f"{where}: lesson_check's message is {type(arg).__name__}, not a template "
                                     f"string (write \"... {{x:.2f}} ...\" and pass x=... to lesson_check)"))
            elif is_module and name in ("CheckFailed", "print") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.JoinedStr) or (isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                                                     and arg.value.strip()):
                    found.append((node.lineno, f"{where}: {name}() of a string that is not translated "
                                                            f"(wrap it in tr(...))"))
    return [text for _, text in sorted(found, key=lambda item: item[0])]


def placeholders(template: str) -> list[tuple[str, str]]:
    """The ``str.format`` fields of a template, as sorted (name, format spec) pairs."""
    try:
        return sorted((name, spec or "") for _, name, spec, _ in string.Formatter().parse(template)
                      if name is not None)
    except ValueError as exc:
        raise ValueError(f"{template!r} is not a valid str.format template ({exc})") from None


def catalog_path(lang: str, name: str, i18n_dir: Path | None = None) -> Path:
    return (i18n_dir or I18N_DIR) / lang / "checks" / f"{name}.po"


def _new_catalog(lang: str, name: str, source: Path) -> polib.POFile:
    po = polib.POFile(wrapwidth=WRAP_WIDTH)
    po.header = (f"Translation of the messages of {source.parent.name}/{source.name} (gankit).\n"
                 f"Edit the msgstr entries only, keeping every {{placeholder}} and its format as it is;\n"
                 f"`gankit translate --lang {lang} --extract` keeps the msgid entries in step with the code.")
    po.metadata = {"Project-Id-Version": f"gankit messages {name}", "Language": lang, "MIME-Version": "1.0",
                   "Content-Type": "text/plain; charset=UTF-8", "Content-Transfer-Encoding": "8bit"}
    return po


def merge_messages(messages: list[Message], catalog: polib.POFile | None, lang: str, name: str,
                   source: Path) -> polib.POFile:
    """A catalog of ``messages`` carrying over the translations of ``catalog`` (see the module's text)."""
    old = {e.msgid: e for e in (catalog or []) if not e.obsolete}
    po = _new_catalog(lang, name, source)
    if catalog is not None:
        po.header = catalog.header or po.header
        po.metadata = {**po.metadata, **catalog.metadata, "Language": lang}
    current = {m.msgid for m in messages}
    vanished = [msgid for msgid, e in old.items() if msgid not in current and e.msgstr]
    for message in messages:
        entry = polib.POEntry(msgid=message.msgid, msgstr="", occurrences=[(message.where, "")])
        before = old.get(message.msgid)
        if before is not None:
            entry.msgstr, entry.tcomment, entry.flags = before.msgstr, before.tcomment, list(before.flags)
            entry.previous_msgid = before.previous_msgid if before.fuzzy else None
        else:
            close = difflib.get_close_matches(message.msgid, vanished, n=1, cutoff=0.8)
            if close:
                vanished.remove(close[0])
                entry.msgstr, entry.tcomment = old[close[0]].msgstr, old[close[0]].tcomment
                entry.flags = ["fuzzy"]
                entry.previous_msgid = close[0]
        if "{" in message.msgid and "python-brace-format" not in entry.flags:
            entry.flags.append("python-brace-format")
        po.append(entry)
    return po


def _read(path: Path) -> polib.POFile | None:
    return _read_catalog(path) if path.is_file() else None


@dataclass(frozen=True)
class MessageStatus:
    source: str
    messages: int
    translated: int
    fuzzy: int
    untranslated: int


def _status(name: str, po: polib.POFile) -> MessageStatus:
    live = [e for e in po if not e.obsolete]
    fuzzy = sum(1 for e in live if e.fuzzy and e.msgstr)
    translated = sum(1 for e in live if e.translated())
    return MessageStatus(name, len(live), translated, fuzzy, len(live) - translated - fuzzy)


def extract_messages(lang: str, names: Iterable[str] | None = None, *,
                     i18n_dir: Path | None = None) -> dict[str, MessageStatus]:
    """Write ``i18n/<lang>/checks/<source>.po`` for every source with messages (or those named)."""
    result = {}
    for name, path in sources(names).items():
        messages = collect(path)
        target = catalog_path(lang, name, i18n_dir)
        old = _read(target)
        if not messages and old is None:
            continue
        po = merge_messages(messages, old, lang, name, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        po.save(str(target))
        result[name] = _status(name, po)
    return result


def message_status(lang: str, names: Iterable[str] | None = None, *,
                   i18n_dir: Path | None = None) -> dict[str, MessageStatus]:
    """Per source with messages: how many are translated, fuzzy and untranslated for the code as it
    is now (a translation made for older English counts as untranslated until merged). Writes nothing."""
    result = {}
    for name, path in sources(names).items():
        messages = collect(path)
        if messages:
            result[name] = _status(name, merge_messages(messages, _read(catalog_path(lang, name, i18n_dir)),
                                                        lang, name, path))
    return result
