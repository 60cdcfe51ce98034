"""What the code says, in every language: the checks' messages and the lessons' lesson checks.

gankit._i18n translates each message from i18n/<lang>/checks/<source>.po before filling in its
values; gankit.tools.messages writes those catalogs from the code. These tests fail when a message
is built before it could be translated (an f-string), when a catalog misses a message or keeps one
the code no longer has, and when a translation loses a placeholder or a code span.
"""

from __future__ import annotations

import json
import re

import polib
import pytest

from gankit import _i18n
from gankit.checks import CheckFailed, lesson_check
from gankit.tools import messages

LANGS = ["zh_CN"]
SOURCES = messages.sources()
CODE_SPAN = re.compile(r"`[^`]+`")


@pytest.fixture(autouse=True)
def english(monkeypatch):
    """Every test starts in English, whatever the environment says."""
    monkeypatch.delenv("GANKIT_LANG", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    _i18n.set_language(None)
    yield
    _i18n.set_language(None)


@pytest.mark.parametrize("name", list(SOURCES))
def test_every_message_is_a_template(name):
    problems = messages.untemplated(SOURCES[name])
    assert not problems, "messages that cannot be translated:\n" + "\n".join(problems)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", list(SOURCES))
def test_catalog_in_step_with_the_code(name, lang):
    found = messages.collect(SOURCES[name])
    path = messages.catalog_path(lang, name)
    if not found:
        assert not path.exists(), f"{path} is left over: {name} has no messages any more; delete it"
        return
    assert path.is_file(), f"{path} is missing: run `gankit translate --lang {lang} --extract-messages {name}`"
    po = polib.pofile(str(path))
    entries = {e.msgid: e for e in po if not e.obsolete}
    problems = []
    for m in found:
        e = entries.get(m.msgid)
        if e is None:
            problems.append(f"not in the catalog ({m.where}): {m.msgid!r}")
        elif not e.msgstr:
            problems.append(f"untranslated ({m.where}): {m.msgid!r}")
        elif e.fuzzy:
            problems.append(f"fuzzy, made for older English ({m.where}): {m.msgid!r}")
        else:
            if messages.placeholders(e.msgstr) != messages.placeholders(m.msgid):
                problems.append(f"placeholders differ ({m.where}): {messages.placeholders(m.msgid)} in English, "
                                f"{messages.placeholders(e.msgstr)} in {e.msgstr!r}")
            if sorted(CODE_SPAN.findall(e.msgstr)) != sorted(CODE_SPAN.findall(m.msgid)):
                problems.append(f"code spans differ ({m.where}): {e.msgstr!r}")
    stale = sorted(set(entries) - {m.msgid for m in found})
    problems += [f"no longer in the code: {msgid!r}" for msgid in stale]
    assert not problems, (f"{path} is out of step with {SOURCES[name]} (run `gankit translate --lang {lang} "
                          f"--extract-messages {name}` and translate):\n" + "\n".join(problems))


@pytest.mark.parametrize("lang", LANGS)
def test_translations_are_in_the_language(lang):
    """A msgstr that is its msgid copied is not a translation (CJK expected for Chinese)."""
    copied = []
    for path in sorted((_i18n.I18N_DIR / lang / "checks").glob("*.po")):
        for e in polib.pofile(str(path)):
            words = re.sub(r"\{[^}]*\}", "", e.msgid)  # "✓ {passed}" and "{message} {hint}" have none
            if e.msgstr and not re.search(r"[\u4e00-\u9fff]", e.msgstr) and re.search(r"[A-Za-z]{4}", words):
                copied.append(f"{path.name}: {e.msgstr!r}")
    assert not copied, "translations without Chinese:\n" + "\n".join(copied)


def test_tr_translates_before_filling_in(tmp_path, monkeypatch):
    folder = tmp_path / "xx" / "checks"
    folder.mkdir(parents=True)
    po = polib.POFile()
    po.append(polib.POEntry(msgid="loss {value:.2f} too high", msgstr="损失 {value:.2f} 太高"))
    po.append(polib.POEntry(msgid="old text", msgstr="旧的", flags=["fuzzy"]))
    po.save(str(folder / "demo.po"))
    monkeypatch.setattr(_i18n, "I18N_DIR", tmp_path)
    _i18n._catalog.cache_clear()
    assert _i18n.tr("loss {value:.2f} too high", value=1.234) == "loss 1.23 too high"
    _i18n.set_language("xx")
    assert _i18n.tr("loss {value:.2f} too high", value=1.234) == "损失 1.23 太高"
    assert _i18n.tr("old text") == "old text", "a fuzzy translation is for older English: not used"
    assert _i18n.tr("not in any catalog {n}", n=3) == "not in any catalog 3"
    with pytest.raises(ValueError, match="known languages are en, xx"):
        _i18n.set_language("klingon")
    _i18n._catalog.cache_clear()


def test_language_from_the_environment_and_the_notebook(tmp_path, monkeypatch):
    assert _i18n.language() == "en"
    monkeypatch.setenv("GANKIT_LANG", "zh_CN.UTF-8")
    assert _i18n.language() == "zh_CN"
    monkeypatch.delenv("GANKIT_LANG")
    nb = tmp_path / "01_gan_fundamentals.ipynb"
    nb.write_text(json.dumps({"metadata": {"gankit": {"translation": {"language": "zh_CN"}}}, "cells": []}))
    monkeypatch.setenv("JPY_SESSION_NAME", str(nb))
    assert _i18n.language() == "zh_CN", "JupyterLab names the notebook; a translated one speaks its language"
    nb.write_text(json.dumps({"metadata": {}, "cells": []}))
    assert _i18n.language() == "en"
    _i18n.set_language("en")
    monkeypatch.setenv("GANKIT_LANG", "zh_CN")
    assert _i18n.language() == "en", "set_language wins over the environment"


def test_lesson_check_speaks_chinese(capsys):
    _i18n.set_language("zh_CN")
    lesson_check(True, "✓ {passed}", "never", passed="x")  # any template: filled in after translation
    assert capsys.readouterr().out.strip() == "✓ ✓ x"
    with pytest.raises(CheckFailed) as info:
        lesson_check(False, "ok", "the loss is {loss:.1f}", loss=2.0)
    assert str(info.value).startswith("✗ ") and re.search(r"[\u4e00-\u9fff]", str(info.value))
    assert "the loss is 2.0" in str(info.value), "an untranslated template is still filled in"


def test_a_list_of_findings_is_joined_as_the_language_writes_it():
    """A check that lists several findings (a transposed convolution wrong on several
    settings) joins them with "; " in English and the full-width "；" in Chinese."""
    from gankit.checks.gan import check_transposed_conv_size

    def off_by_one(n, kernel, stride, padding):
        return (n - 1) * stride - 2 * padding + kernel + 1

    with pytest.raises(CheckFailed) as english:
        check_transposed_conv_size(off_by_one)
    assert "expected 14, got 15; n=14" in str(english.value)
    _i18n.set_language("zh_CN")
    with pytest.raises(CheckFailed) as chinese:
        check_transposed_conv_size(off_by_one)
    assert "；" in str(chinese.value) and "; " not in str(chinese.value), str(chinese.value)
    assert _i18n.join_clauses(["甲", "乙"]) == "甲；乙"


def test_lesson_check_in_english_is_unchanged(capsys):
    lesson_check(True, "D matches D* (error {err:.3f}).", "far", err=0.01234)
    assert capsys.readouterr().out == "✓ D matches D* (error 0.012).\n"
    with pytest.raises(CheckFailed, match=r"^✗ Lesson check failed: far off \(0\.50\)$"):
        lesson_check(False, "ok", "far off ({err:.2f})", err=0.5)


def test_merge_keeps_translations_and_marks_small_changes_fuzzy(tmp_path):
    source = tmp_path / "demo.py"
    old = messages.merge_messages([messages.Message("The loss is {x:.2f}, expected below 1.", "demo.py:1"),
                                   messages.Message("Gone for good.", "demo.py:2")], None, "zh_CN", "demo", source)
    old[0].msgstr, old[1].msgstr = "损失为 {x:.2f}，应低于 1。", "彻底没了。"
    new = messages.merge_messages([messages.Message("The loss is {x:.2f}, expected below 2.", "demo.py:1"),
                                   messages.Message("Brand new.", "demo.py:3")], old, "zh_CN", "demo", source)
    first, second = list(new)
    assert first.fuzzy and first.msgstr == "损失为 {x:.2f}，应低于 1。" and first.previous_msgid.endswith("below 1.")
    assert second.msgstr == "" and not second.fuzzy
    assert len(new) == 2, "a vanished message that matches nothing is dropped"


def test_untemplated_finds_f_strings(tmp_path):
    module = tmp_path / "checks" / "demo.py"
    module.parent.mkdir()
    module.write_text('def f(x):\n    raise CheckFailed(f"bad {x}")\n\ndef g(x):\n    raise CheckFailed(tr("bad {x}", x=x))\n'
                      'lesson_check(x, f"ok {x}", "bad")\n')
    found = messages.untemplated(module)
    assert len(found) == 2 and ":2:" in found[0] and ":6:" in found[1]


def test_untemplated_finds_missing_values(tmp_path):
    module = tmp_path / "checks" / "demo.py"
    module.parent.mkdir()
    module.write_text('tr("a {x} b {y.z:.2f}", x=1)\ntr("fine {x}", x=1)\nlesson_check(c, "ok {a}", "bad")\n'
                      'tr("free {x}")\ntr("spread {x}", **values)\n')
    found = messages.untemplated(module)
    assert len(found) == 2 and "needs y" in found[0] and "needs a" in found[1], found


def _glossary() -> list[tuple[list[str], str]]:
    import csv

    with open(_i18n.I18N_DIR / "zh_CN" / "glossary.tsv", encoding="utf-8", newline="") as f:
        rows = [row for row in csv.DictReader(f, delimiter="\t") if row["check"] == "yes"]
    return [([form.strip() for form in row["english"].split("|")], row["chinese"]) for row in rows]


# what a message says in code, which stays English: `code spans`, {placeholders}, and words joined to
# code by . _ / = ( ) [ ] (loss.backward(), data/checkpoints/, generator=generator, p(token | x))
CODE_LIKE = re.compile(r"`[^`]*`|\{[^}]*\}|[^\s，。：；（）、]*[._/=()\[\]][^\s，。：；（）、]*")


@pytest.mark.parametrize("path", sorted((_i18n.I18N_DIR / "zh_CN" / "checks").glob("*.po")), ids=lambda p: p.stem)
def test_glossary_terms_in_messages(path):
    """The checks say a term as the lessons do (i18n/zh_CN/glossary.tsv, the terms marked check=yes),
    code and acronyms aside; a translator comment 'glossary-skip: <term> (<why>)' exempts one message."""
    problems = []
    for entry in polib.pofile(str(path)):
        if not entry.msgstr or entry.obsolete:
            continue
        english = CODE_LIKE.sub(" ", entry.msgid).lower()
        chinese = CODE_LIKE.sub(" ", entry.msgstr)
        skipped = {t.strip().lower() for line in (entry.tcomment or "").splitlines()
                   if line.strip().startswith("glossary-skip:")
                   for t in line.split(":", 1)[1].split("(")[0].split(",")}
        for forms, term in _glossary():
            forms = [f for f in forms if not f.isupper()]  # an acronym (PSNR, FID) is a name a message may use as is
            if not forms or forms[0].lower() in skipped:
                continue
            found = [f for f in forms if re.search(rf"(?<![\w-]){re.escape(f.lower())}(?![\w-])", english)]
            if found and term not in chinese:
                problems.append(f"{found[0]!r} should be {term}: {entry.msgstr!r}")
    assert not problems, f"{path.name}: glossary terms translated otherwise:\n  " + "\n  ".join(problems)
