"""The headless browser that the tests of HTML pages rely on."""

from __future__ import annotations

from pathlib import Path

from devtools import Browser


def test_each_page_keeps_what_it_did_when_others_are_opened(tmp_path: Path) -> None:
    alerting, quiet = tmp_path / "alerting.html", tmp_path / "quiet.html"
    alerting.write_text("<!doctype html><script>setTimeout(() => alert(1), 0)</script>", encoding="utf-8")
    quiet.write_text("<!doctype html><p>nothing</p>", encoding="utf-8")
    browser = Browser()
    try:
        first = browser.open(alerting.as_uri(), settle=0.5)
        second = browser.open(quiet.as_uri(), settle=0.5)
        assert len(first.dialogs) == 1  # recorded before the second page was opened
        assert second.dialogs == []
        assert first.requests == [alerting.as_uri()]
    finally:
        browser.close()
