"""Every man page renders with groff -ww without a warning (the brief: a man
page per command, kept true; issue 10: groff -ww clean)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = sorted(REPO.glob("man/man[1-8]/*.[1-8]"))


def test_there_are_pages():
    names = {p.stem for p in PAGES}
    for command in ("postconf", "postmap", "postalias", "postern", "postauth",
                    "sendmail", "postqueue", "postsuper"):
        assert command in names, f"no man page for {command}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_renders_cleanly(page):
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed (make deps installs groff-base)")
    proc = subprocess.run(["groff", "-ww", "-man", "-Tutf8", str(page)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stderr == ""
    # Bold comes out as overstrike (X backspace X): strip it to read the text.
    assert "NAME" in re.sub(".\x08", "", proc.stdout)
