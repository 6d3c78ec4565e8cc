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


def test_postconf5_is_generated_from_the_parameter_table():
    """man/man5/postconf.5 is what man/gen-postconf5 makes of
    lib/params.def: a parameter added without regenerating the page (or a
    page edited by hand) fails here. Run man/gen-postconf5 -o
    man/man5/postconf.5 to fix."""
    proc = subprocess.run(["/usr/bin/python3", str(REPO / "man" / "gen-postconf5")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    committed = (REPO / "man" / "man5" / "postconf.5").read_text()
    assert proc.stdout == committed, \
        "man/man5/postconf.5 is out of date: run man/gen-postconf5 -o man/man5/postconf.5"
    # Every parameter of the table is on the page.
    names = re.findall(r"^PARAM\(([A-Za-z0-9_]+),", (REPO / "lib" / "params.def").read_text(),
                       re.M)
    assert len(names) > 500
    listed = re.findall(r"^\.BR (\S+) \"", committed, re.M)
    assert listed == names


def test_section5_pages_exist():
    names = {p.name for p in PAGES}
    for page in ("postconf.5", "master.5", "postern_maps.5"):
        assert page in names, f"no man page {page}"
