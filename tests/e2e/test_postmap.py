"""End-to-end tests of postmap, most of them differential against Postfix.

Run from the repository root as ``make check`` does:

    POSTERN_BUILD=build/san /usr/bin/python3 -m pytest -q tests/e2e

Our postmap is POSTERN_BUILD/bin/postmap. When Debian's Postfix is installed
(/usr/sbin/postmap), the differential tests build the same generated source
files with both programs and compare, byte for byte: the exit codes, the
warnings, the ``postmap -q`` answers for a corpus of keys (case variants,
missing keys, quoted localparts, IPv4/IPv6), the ``postmap -s`` dumps, and
every pair of (program, .db file) so each reads the other's files. Without
Postfix those tests are skipped with the reason; the others still run.

Every test works in its own folder under pytest's tmp_path with a minimal
main.cf there, passed as ``postmap -c DIR``; commands run inside that folder
with relative file names, so both programs print the same paths.

One known, deliberate difference: a duplicate key in the source is reported
as "FILE, line N: duplicate entry" (the file and line the admin must fix)
where Postfix says "FILE.db: duplicate entry"; the comparisons leave those
lines out and test ours separately.
"""

import os
import pwd
import random
import signal
import stat
import subprocess
import time
import zlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = os.environ.get("POSTERN_BUILD", "build/san")
POSTMAP = (REPO / BUILD / "bin" / "postmap").resolve()
ORACLE = Path("/usr/sbin/postmap")

pytestmark = pytest.mark.skipif(
    not POSTMAP.is_file(),
    reason=f"{POSTMAP} is not built (run make, or set POSTERN_BUILD)")

needs_postfix = pytest.mark.skipif(
    not os.access(ORACLE, os.X_OK),
    reason="Debian's Postfix is not installed (/usr/sbin/postmap): "
           "no oracle for the differential tests (make deps installs it)")


# ---- running the two programs ------------------------------------------------

class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def __repr__(self):
        return f"rc={self.rc} out={self.out!r} err={self.err!r}"


def run(prog, conf, args, cwd, stdin=None):
    """Run PROG -c CONF ARGS in CWD; returns a Result (text mode)."""
    env = dict(os.environ)
    env.pop("MAIL_CONFIG", None)
    proc = subprocess.run([str(prog), "-c", str(conf), *args], cwd=cwd,
                          input=stdin, capture_output=True, text=True,
                          errors="replace", env=env, timeout=300)
    assert "Sanitizer" not in proc.stderr, proc.stderr
    assert "runtime error" not in proc.stderr, proc.stderr
    return Result(proc)


def ours(conf, args, cwd, stdin=None):
    return run(POSTMAP, conf, args, cwd, stdin)


def postfix(conf, args, cwd, stdin=None):
    return run(ORACLE, conf, args, cwd, stdin)


def no_dups(text):
    """Warnings less the duplicate-entry lines (worded differently)."""
    return "".join(line for line in text.splitlines(keepends=True)
                   if "duplicate entry" not in line)


def same(a, b, what, ignore_dups=True):
    """Assert two Results agree, with a readable message."""
    a_err = no_dups(a.err) if ignore_dups else a.err
    b_err = no_dups(b.err) if ignore_dups else b.err
    assert (a.rc, a.out, a_err) == (b.rc, b.out, b_err), (
        f"{what}\n  ours:    {a!r}\n  postfix: {b!r}")


@pytest.fixture
def work(tmp_path):
    """A folder with a minimal main.cf; postmap -c points there."""
    main_cf = tmp_path / "main.cf"
    main_cf.write_text("compatibility_level = 3.6\n")
    # Postfix waits for a main.cf younger than a few seconds to settle.
    old = time.time() - 3600
    os.utime(main_cf, (old, old))
    return tmp_path


def mkdirs(work, *names):
    dirs = []
    for name in names:
        d = work / name
        d.mkdir()
        dirs.append(d)
    return dirs


# ---- generated sources and key corpora --------------------------------------

def generate_source(seed, n=3000):
    """A postmap source with the awkward cases, and its list of keys."""
    rnd = random.Random(seed)
    lines = ["# generated lookup table", ""]
    keys = []
    values = ["OK", "REJECT go away", "relay:[mx.example.net]:25",
              "DISCARD\twith a tab", "smtp:[10.0.0.1]", "550 5.7.1 no",
              "a  b   c", "x" * 300, "user@example.org, other@example.org"]
    for i in range(n):
        kind = rnd.randrange(10)
        if kind == 0:
            key = f"example{i}.com"
        elif kind == 1:
            key = f"User{i}@Example{i % 7}.COM"
        elif kind == 2:
            key = f"10.{i % 256}.{(i * 7) % 256}.{(i * 13) % 256}"
        elif kind == 3:
            key = f"2001:db8::{i:x}"
        elif kind == 4:
            key = f'"first last{i}"@example.com'
        elif kind == 5:
            key = f"user{i}+ext@sub.example{i % 11}.net"
        elif kind == 6:
            key = f"@domain{i}.example"
        else:
            key = f"key{i}"
        keys.append(key)
        value = rnd.choice(values) + ("" if rnd.randrange(4) else f" {i}")
        if rnd.randrange(20) == 0:
            # A value continued on following lines.
            lines.append(f"{key}\t{value}")
            lines.append(f"   continued {i}")
            lines.append("# a comment inside a logical line")
            lines.append(f"\tand more {i}")
        else:
            lines.append(f"{key} {value}   ")
        if rnd.randrange(100) == 0:
            lines.append(f"{key.upper()} duplicate {i}")
        if rnd.randrange(300) == 0:
            lines.append(f"lonely{i}")
        if rnd.randrange(400) == 0:
            lines.append(f'"unbalanced{i} value')
    return "\n".join(lines) + "\n", keys


def query_corpus(keys, seed):
    """Keys, case variants of them and keys that are not there."""
    rnd = random.Random(seed)
    corpus = []
    for key in keys:
        corpus.append(key)
        if rnd.randrange(3) == 0:
            corpus.append(key.upper())
        if rnd.randrange(3) == 0:
            corpus.append(key.swapcase())
        if rnd.randrange(10) == 0:
            corpus.append(key + "x")
    corpus += ["", "nosuchkey", "EXAMPLE1.COM", "10.0.0", "user@", "@"]
    rnd.shuffle(corpus)
    return corpus


def sorted_dump(result):
    return sorted(result.out.splitlines())


# ---- differential: building and reading --------------------------------------

@needs_postfix
@pytest.mark.parametrize("flags", [[], ["-n"], ["-N"], ["-f"]],
                         ids=["default", "no-nul", "nul", "no-fold"])
@pytest.mark.parametrize("mtype", ["hash", "btree"])
def test_build_query_dump_cross_read(work, mtype, flags):
    text, keys = generate_source(seed=zlib.crc32(f"{mtype} {flags}".encode()))
    mine, theirs = mkdirs(work, "ours", "postfix")
    for d in (mine, theirs):
        (d / "map").write_text(text)

    a = ours(work, [*flags, f"{mtype}:map"], mine)
    b = postfix(work, [*flags, f"{mtype}:map"], theirs)
    same(a, b, f"building {mtype}:map {flags}")
    assert a.rc == 0 and (mine / "map.db").is_file()

    corpus = query_corpus(keys, seed=7)
    stdin = "".join(k + "\n" for k in corpus)
    # Each program on its own file, then on the other's.
    answers = {}
    for prog_name, prog in (("ours", ours), ("postfix", postfix)):
        for file_name, d in (("ours", mine), ("postfix", theirs)):
            r = prog(work, [*flags, "-q", "-", f"{mtype}:map"], d, stdin)
            answers[prog_name, file_name] = r
    ref = answers["postfix", "postfix"]
    assert ref.rc == 0 and ref.out
    for combo, r in answers.items():
        same(r, ref, f"postmap -q - with {combo[0]} reading {combo[1]}'s "
                     f"{mtype} file {flags}")

    # Single -q: exit codes and output, for a sample of keys.
    for key in random.Random(3).sample(corpus, 40):
        a = ours(work, [*flags, "-q", key, f"{mtype}:map"], theirs)
        b = postfix(work, [*flags, "-q", key, f"{mtype}:map"], mine)
        same(a, b, f"postmap -q {key!r} (cross-read)")

    # Dumps: same entries whoever wrote or reads the file.
    dumps = {}
    for prog_name, prog in (("ours", ours), ("postfix", postfix)):
        for file_name, d in (("ours", mine), ("postfix", theirs)):
            r = prog(work, [*flags, "-s", f"{mtype}:map"], d)
            assert r.rc == 0, r
            dumps[prog_name, file_name] = sorted_dump(r)
    for combo, dump in dumps.items():
        assert dump == dumps["postfix", "postfix"], f"postmap -s {combo}"


@needs_postfix
def test_texthash_matches(work):
    text, keys = generate_source(seed=11, n=800)
    (work / "map").write_text(text)
    stdin = "".join(k + "\n" for k in query_corpus(keys, seed=5))
    a = ours(work, ["-q", "-", "texthash:map"], work, stdin)
    b = postfix(work, ["-q", "-", "texthash:map"], work, stdin)
    # Postfix repeats texthash warnings; compare the answers only.
    assert (a.rc, a.out) == (b.rc, b.out)
    a = ours(work, ["-s", "texthash:map"], work)
    b = postfix(work, ["-s", "texthash:map"], work)
    assert sorted_dump(a) == sorted_dump(b)
    assert a.rc == b.rc == 0
    # The warnings themselves, once each, in Postfix's words.
    b_lines = set(b.err.splitlines())
    for line in a.err.splitlines():
        assert line in b_lines


@needs_postfix
def test_source_warnings_match(work):
    """Bad lines: same warnings, same table."""
    text = ("  leading white space at the very start of the file\n"
            "   continues it\n"
            "good value\n"
            "alone\n"
            '"unterminated key value\n'
            'x"c d" quoted middle\n'
            "a\\ b escaped space\n"
            '"a\\"b" escaped quote\n'
            "abc\\\n"
            '"" \n'
            "k7 \\\"\n"
            "key6\n    cont1\n\tcont2\n# c\n   cont3\n")
    mine, theirs = mkdirs(work, "ours", "postfix")
    for d in (mine, theirs):
        (d / "src").write_text(text)
    same(ours(work, ["src"], mine), postfix(work, ["src"], theirs),
         "warnings for bad lines", ignore_dups=False)
    assert sorted_dump(ours(work, ["-s", "src"], mine)) == \
        sorted_dump(postfix(work, ["-s", "src"], theirs))


@needs_postfix
@pytest.mark.parametrize("args", [
    ["-q", "x", "fail:foo"],
    ["-s", "fail:x"],
    ["-q", "x", "static:foo"],
    ["-q", "x", "static:{ a b }"],
    ["-q", "x", "static:{ a b "],
    ["-q", "x", "static:{a}b"],
    ["-q", "x", "static:{{a}}"],
    ["-q", "x", "static:{ }"],
    ["-s", "static:x"],
    ["-q", "x", "static:"],
    ["-q", "a", "inline:{ a=1, { b = 2 3 }, C=4 }"],
    ["-q", "b", "inline:{ a=1, { b = 2 3 }, C=4 }"],
    ["-q", "C", "inline:{ a=1, { b = 2 3 }, C=4 }"],
    ["-q", "c", "-f", "inline:{ a=1, { b = 2 3 }, C=4 }"],
    ["-q", "zz", "inline:{ a=1, { b = 2 3 }, C=4 }"],
    ["-q", "a", "inline:{ a }"],
    ["-q", "a", "inline:{ }"],
    ["-q", "x", "inline:x=y"],
    ["-q", "x", "inline:{x = y"],
    ["-q", "x", "inline:{x=y}}"],
    ["-q", "x", "inline:{ x = { y z } }"],
    ["-q", "b", "inline:{a=1,b=}"],
    ["-q", "root", "unix:passwd.byname"],
    ["-q", "ROOT", "unix:passwd.byname"],
    ["-q", "nosuchuser", "unix:passwd.byname"],
    ["-q", "root", "unix:group.byname"],
    ["-q", "x", "unix:bogus"],
    ["-s", "unix:passwd.byname"],
    ["-q", "x", "texthash:missing"],
    ["-q", "x", "missing"],
    ["-q", "x", "btree:missing"],
    ["-s", "missing"],
    ["-d", "x", "missing"],
    ["-q", "x", "bogus:whatever"],
    ["missing"],
    ["unix:passwd.byname"],
    ["static:x"],
    ["-q", "a", "-d", "b", "x"],
    ["-q", "a", "-s", "x"],
    ["-d", "a", "-s", "x"],
    ["-s", "-q", "a", "x"],
    ["-s", "-d", "a", "x"],
    ["-q", "a", "-q", "b", "x"],
], ids=lambda a: " ".join(a))
def test_commands_match(work, args):
    same(ours(work, args, work), postfix(work, args, work), " ".join(args))


@needs_postfix
def test_type_cannot_build(work):
    (work / "re").write_text("/a/ b\n")
    (work / "th").write_text("a b\n")
    for args in (["regexp:re"], ["texthash:th"], ["-i", "regexp:re"],
                 ["-d", "x", "texthash:th"]):
        same(ours(work, args, work, ""), postfix(work, args, work, ""),
             " ".join(args))


@needs_postfix
def test_incremental_and_delete_match(work):
    text, keys = generate_source(seed=21, n=500)
    mine, theirs = mkdirs(work, "ours", "postfix")
    for d in (mine, theirs):
        (d / "map").write_text(text)
    steps = [
        (["map"], None),
        (["-i", "map"], "new1 value one\nkey1 replaced?\nBad\nNEW2 two\n"),
        (["-i", "-r", "map"], "key1 replaced\n"),
        (["-i", "-w", "map"], "key1 not again\n"),
        (["-d", keys[0], "map"], None),
        (["-d", keys[0], "map"], None),
        (["-d", "-", "map"], "".join(k + "\n" for k in keys[5:60]) + "zz\n"),
        (["-d", "-", "map"], "nothing\nhere\n"),
        (["-i", "hash:fresh"], "a 1\nb 2\n"),
        (["-q", "-", "map", "hash:fresh"], "a\nb\nnew1\n" + keys[70] + "\n"),
    ]
    for args, stdin in steps:
        a = ours(work, args, mine, stdin)
        b = postfix(work, args, theirs, stdin)
        same(a, b, f"postmap {' '.join(args)}")
        for name in ("map", "fresh"):
            if (theirs / f"{name}.db").exists():
                assert sorted_dump(ours(work, ["-s", name], mine)) == \
                    sorted_dump(postfix(work, ["-s", name], theirs)), args


@needs_postfix
def test_postconf_types_we_read(work):
    """Every file type both list builds and reads across programs."""
    (work / "map").write_text("a 1\nB 2\n")
    for build_prog, read_prog in ((ours, postfix), (postfix, ours)):
        for mtype in ("hash", "btree"):
            assert build_prog(work, [f"{mtype}:map"], work).rc == 0
            r = read_prog(work, ["-q", "b", f"{mtype}:map"], work)
            assert (r.rc, r.out) == (0, "2\n")


# ---- ours alone -------------------------------------------------------------

def test_duplicate_warning_names_file_and_line(work):
    (work / "map").write_text("dup first\n# c\nDUP second\nother x\ndup 3\n")
    r = ours(work, ["map"], work)
    assert r.rc == 0
    assert r.err.splitlines() == [
        'postmap: warning: map, line 3: duplicate entry: "DUP"',
        'postmap: warning: map, line 5: duplicate entry: "dup"',
    ]
    assert ours(work, ["-q", "dup", "map"], work).out == "first\n"
    # -r: the last one wins, quietly; -w: the first one, quietly.
    r = ours(work, ["-r", "map"], work)
    assert (r.rc, r.err) == (0, "")
    assert ours(work, ["-q", "dup", "map"], work).out == "3\n"
    r = ours(work, ["-w", "map"], work)
    assert (r.rc, r.err) == (0, "")
    assert ours(work, ["-q", "dup", "map"], work).out == "first\n"
    # From stdin the file is "stdin".
    r = ours(work, ["-i", "map"], work, "dup again\n")
    assert r.err == 'postmap: warning: stdin, line 1: duplicate entry: "dup"\n'


def test_exit_codes(work):
    (work / "map").write_text("a 1\nb 2\n")
    assert ours(work, ["map"], work).rc == 0
    assert ours(work, ["-q", "a", "map"], work).rc == 0
    assert ours(work, ["-q", "z", "map"], work).rc == 1
    r = ours(work, ["-q", "-", "map"], work, "z\nb\n")
    assert (r.rc, r.out) == (0, "b\t2\n")
    assert ours(work, ["-q", "-", "map"], work, "z\n").rc == 1
    assert ours(work, ["-d", "a", "map"], work).rc == 0
    assert ours(work, ["-d", "a", "map"], work).rc == 1
    r = ours(work, [], work)
    assert r.rc == 1 and r.err.startswith("postmap: fatal: usage: postmap ")
    r = ours(work, ["-x", "map"], work)
    assert r.rc == 1 and "invalid option" in r.err
    r = ours(work, ["-c", str(work / "nonexistent"), "-q", "a", "map"], work)
    assert r.rc == 1 and "postmap: fatal: " in r.err


def test_no_temporary_files_left(work):
    text, _ = generate_source(seed=3, n=2000)
    (work / "map").write_text(text)
    for mtype in ("hash", "btree", "dbm"):
        assert ours(work, [f"{mtype}:map"], work).rc == 0
    assert sorted(p.name for p in work.iterdir()) == ["main.cf", "map",
                                                       "map.db"]


def test_failed_build_keeps_old_table(work):
    (work / "map").write_text("k old\n")
    assert ours(work, ["map"], work).rc == 0
    # A fatal error (here: the second source is missing) ends the run.
    r = ours(work, ["map", "missing"], work)
    assert r.rc == 1 and "open missing: No such file or directory" in r.err
    assert ours(work, ["-q", "k", "map"], work).out == "old\n"

    # Killed half-way through a build: readers keep the old table, and the
    # half-built one is removed. The source is a FIFO, so the build waits
    # in the middle for as long as the test likes.
    os.unlink(work / "map")
    os.mkfifo(work / "map")
    proc = subprocess.Popen([str(POSTMAP), "-c", str(work), "map"], cwd=work,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with open(work / "map", "w") as fifo:
        fifo.write("k new\n" + "".join(f"key{i} v\n" for i in range(1000)))
        fifo.flush()
        time.sleep(0.5)
        assert ours(work, ["-q", "k", "map"], work).out == "old\n"
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert ours(work, ["-q", "k", "map"], work).out == "old\n"
    assert sorted(p.name for p in work.iterdir()) == ["main.cf", "map",
                                                       "map.db"]


def test_new_file_permissions(work):
    (work / "map").write_text("a 1\n")
    os.chmod(work / "map", 0o640)
    assert ours(work, ["map"], work).rc == 0
    assert stat.S_IMODE(os.stat(work / "map.db").st_mode) == 0o640
    os.unlink(work / "map.db")
    assert ours(work, ["-p", "map"], work).rc == 0
    assert stat.S_IMODE(os.stat(work / "map.db").st_mode) == 0o644
    # An existing table keeps its mode.
    os.chmod(work / "map.db", 0o600)
    assert ours(work, ["map"], work).rc == 0
    assert stat.S_IMODE(os.stat(work / "map.db").st_mode) == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to change owners")
def test_owner_follows_source_as_root(work):
    nobody = pwd.getpwnam("nobody")
    (work / "map").write_text("a 1\n")
    os.chown(work / "map", nobody.pw_uid, nobody.pw_gid)
    assert ours(work, ["map"], work).rc == 0
    st = os.stat(work / "map.db")
    assert (st.st_uid, st.st_gid) == (nobody.pw_uid, nobody.pw_gid)
    os.unlink(work / "map.db")
    assert ours(work, ["-o", "map"], work).rc == 0
    assert os.stat(work / "map.db").st_uid == 0


@pytest.mark.parametrize("damage", ["empty", "garbage", "half", "page",
                                    "scribble"])
@pytest.mark.parametrize("builder", ["ours", "postfix"])
def test_damaged_table_is_an_error(work, damage, builder):
    if builder == "postfix" and not os.access(ORACLE, os.X_OK):
        pytest.skip("Debian's Postfix is not installed (/usr/sbin/postmap)")
    text, keys = generate_source(seed=9, n=1500)
    (work / "map").write_text(text)
    build = ours if builder == "ours" else postfix
    assert build(work, ["map"], work).rc == 0
    data = bytearray((work / "map.db").read_bytes())
    if damage == "empty":
        data = b""
    elif damage == "garbage":
        data = b"this is not a database\n" * 100
    elif damage == "half":
        data = data[:len(data) // 2 + 100]
    elif damage == "page":
        data = data[:len(data) // 2 // 4096 * 4096]
    else:
        rnd = random.Random(1)
        for _ in range(200):
            data[rnd.randrange(1024, len(data))] = rnd.randrange(256)
    (work / "map.db").write_bytes(bytes(data))
    stdin = "".join(k + "\n" for k in keys[:300])
    r = ours(work, ["-q", "-", "map"], work, stdin)
    assert r.rc == 1 and "postmap: fatal: " in r.err, r
    r = ours(work, ["-s", "map"], work)
    assert r.rc == 1 and "postmap: fatal: " in r.err, r
