"""End-to-end tests of postalias and newaliases, most of them differential
against Debian's Postfix.

Run from the repository root as ``make check`` does:

    POSTERN_BUILD=build/san /usr/bin/python3 -m pytest -q tests/e2e

Our postalias is POSTERN_BUILD/bin/postalias (newaliases is the same
program run under that name). When Debian's Postfix is installed
(/usr/sbin/postalias), the differential tests build the same aliases(5)
sources with both programs and compare the exit codes, the standard
output, the ``postalias -q`` answers for a corpus of keys (case variants,
quoted names, missing keys, the "@" and YP_ entries), the ``postalias -s``
dumps, and every pair of (program, .db file), so each reads the other's
files. Without Postfix those tests are skipped with the reason; the
others still run.

Every test works in its own folder under pytest's tmp_path with a minimal
main.cf there (passed as ``-c DIR``): compatibility_level = 3.6 so that
both programs check UTF-8 (smtputf8_enable = yes), and a fixed myhostname
for the YP_MASTER_NAME entry. Commands run inside that folder with
relative file names.

Known, deliberate differences, left out of the comparisons and tested on
their own: the wording of warnings (ours say what is wrong, e.g. "missing
':' after the alias name", and name the file and line of duplicates);
the YP_LAST_MODIFIED value (the time of the build); the order of ``-s``
output (the order of records in the .db file, not the entries); and a
quoted empty name ("": x), which Postfix stores under the empty key and
ours skips with a warning.
"""

import os
import pwd
import random
import re
import signal
import stat
import subprocess
import time
import zlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = os.environ.get("POSTERN_BUILD", "build/san")
POSTALIAS = (REPO / BUILD / "bin" / "postalias").resolve()
ORACLE = Path("/usr/sbin/postalias")
ORACLE_POSTMAP = Path("/usr/sbin/postmap")
HOSTNAME = "mail.postalias-test.example"

pytestmark = pytest.mark.skipif(
    not POSTALIAS.is_file(),
    reason=f"{POSTALIAS} is not built (run make, or set POSTERN_BUILD)")

needs_postfix = pytest.mark.skipif(
    not os.access(ORACLE, os.X_OK),
    reason="Debian's Postfix is not installed (/usr/sbin/postalias): "
           "no oracle for the differential tests (make deps installs it)")


# ---- running the two programs ------------------------------------------------

class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def __repr__(self):
        return f"rc={self.rc} out={self.out!r} err={self.err!r}"


def run(argv, conf, args, cwd, stdin=None):
    """Run ARGV -c CONF ARGS in CWD; returns a Result (text mode)."""
    env = dict(os.environ)
    env.pop("MAIL_CONFIG", None)
    env.pop("MAIL_VERBOSE", None)
    if isinstance(stdin, str):
        stdin = stdin.encode()
    proc = subprocess.run([*argv, "-c", str(conf), *args], cwd=cwd,
                          input=stdin, capture_output=True, env=env,
                          timeout=300)
    out = subprocess.CompletedProcess(
        proc.args, proc.returncode,
        proc.stdout.decode("utf-8", "surrogateescape"),
        proc.stderr.decode("utf-8", "replace"))
    assert "Sanitizer" not in out.stderr, out.stderr
    assert "runtime error" not in out.stderr, out.stderr
    return Result(out)


def ours(conf, args, cwd, stdin=None):
    return run([str(POSTALIAS)], conf, args, cwd, stdin)


def postfix(conf, args, cwd, stdin=None):
    return run([str(ORACLE)], conf, args, cwd, stdin)


def same(a, b, what):
    """Exit codes and standard output agree (warnings are worded apart)."""
    assert (a.rc, a.out) == (b.rc, b.out), (
        f"{what}\n  ours:    {a!r}\n  postfix: {b!r}")
    # Both fail the same way: a fatal message.
    if a.rc != 0 and not a.out:
        assert ("fatal:" in a.err) == ("fatal:" in b.err), (
            f"{what}\n  ours:    {a!r}\n  postfix: {b!r}")


YP_TIME = re.compile(r"^YP_LAST_MODIFIED:\t(\d+)$")


def dump_lines(result, skip_empty_key=True):
    """postalias -s output, sorted, with the build time masked."""
    assert result.rc == 0, result
    lines = []
    for line in result.out.splitlines():
        m = YP_TIME.match(line)
        if m:
            assert len(m.group(1)) == 10, line
            line = "YP_LAST_MODIFIED:\tTIME"
        if skip_empty_key and line.startswith(":\t"):
            continue
        lines.append(line)
    return sorted(lines)


MAIN_CF = f"""\
# minimal main.cf for the postalias tests
compatibility_level = 3.6
myhostname = {HOSTNAME}
"""


@pytest.fixture
def work(tmp_path):
    """A folder with a minimal main.cf; postalias -c points there."""
    (tmp_path / "main.cf").write_text(MAIN_CF)
    return tmp_path


def mkdirs(work, *names):
    dirs = []
    for name in names:
        d = work / name
        d.mkdir()
        dirs.append(d)
    return dirs


# ---- generated sources and key corpora --------------------------------------

FIXED_SOURCE = b"""\
# An aliases file with the usual and the awkward cases.
MAILER-DAEMON: postmaster
postmaster: root
Root: admin, "Bob Smith"@example.com
list: a,
  b ,c
\tdd
# a comment inside a continued entry
  , ee
file: /var/log/mail.copy
cmd: "|/usr/bin/procmail -a list", |exit 67
inc: :include:/etc/postern/list.members
inc2: :include: /etc/postern/other
"a b": quoted name
"With:Colon": x
v\\19: escaped name
Name With Spaces: y
angle: Joe User <joe@example.com>, <bob@example.com>
comment: joe (Joe User), bob@example.com (Bob)
literal: user@[192.0.2.1], [IPv6:2001:db8::1]
spacing: a , b;c . d @ e
tab:\ta\tb
quotes: "unterminated
paren: (unterminated comment
esc: a\\,b, a\\ b, a\\"b
dup: first
DUP: second
nocolon here
empty:
user@example.com: not a local name
a%b: not local either
\xc3\x89cole: utf-8 name
bad8: \xff\xfe
crlf: value\r
@: user at sign
yp_master_name: lower case
"""


def generate_source(seed, n=1500):
    """A large aliases source with the awkward cases, and its names."""
    rnd = random.Random(seed)
    lines = [b"# generated aliases", b""]
    names = []
    values = [b"root", b"admin@example.com", b'"|/usr/bin/vacation joe"',
              b"/var/mail/archive", b":include:/etc/lists/members",
              b"a, b, c", b"Joe <joe@example.org>", b"x (comment) y",
              b"|exit 67", b'"first last"@example.net',
              "caf\u00e9@example.org".encode()]
    for i in range(n):
        kind = rnd.randrange(8)
        if kind == 0:
            name = f"User{i}".encode()
        elif kind == 1:
            name = f'"first last{i}"'.encode()
        elif kind == 2:
            name = f"owner-list{i}".encode()
        elif kind == 3:
            name = f"list{i}-request".encode()
        elif kind == 4:
            name = f"\u00c9l\u00e8ve{i}".encode()
        else:
            name = f"alias{i}".encode()
        names.append(name)
        value = rnd.choice(values)
        extra = rnd.randrange(20)
        if extra == 0:
            lines.append(name + b": " + value + b",")
            lines.append(b"   more" + str(i).encode() + b"@example.com")
            lines.append(b"# a comment inside a logical line")
            lines.append(b"\tand.more" + str(i).encode())
        elif extra == 1:
            lines.append(name + b" : " + value + b"  ")
        else:
            lines.append(name + b": " + value)
        if rnd.randrange(100) == 0:
            lines.append(name.upper() + b": duplicate " + str(i).encode())
        if rnd.randrange(300) == 0:
            lines.append(b"lonely" + str(i).encode())
        if rnd.randrange(300) == 0:
            lines.append(b"bad" + str(i).encode() + b": \xff")
    return b"\n".join(lines) + b"\n", names


def name_keys(names):
    """The lookup keys of the names (quotes off)."""
    return [n.decode("utf-8", "surrogateescape").replace('"', "")
            for n in names]


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
    corpus += ["", "nosuchname", "@", "YP_MASTER_NAME", "yp_master_name",
               "YP_LAST_MODIFIED", "a b", '"a b"', "with:colon", "v19",
               "name with spaces", "\u00e9cole", "\u00c9COLE", "dup", "bad8",
               "crlf", "root", "ROOT", "mailer-daemon"]
    rnd.shuffle(corpus)
    return corpus


def fuzz_source(seed, lines=200):
    """Random lines over the characters that matter to the tokenizer."""
    rnd = random.Random(seed)
    alpha = [b"a", b"b", b"Z", b"x.y", b" ", b" ", b"\t", b"(", b")", b"<",
             b">", b"@", b",", b";", b":", b"\\", b'"', b".", b"[", b"]",
             b"|", b"!", b"%", b"#", "\u00e9".encode(), "\u00c9".encode(),
             b"/", b"-", b"+", b"=", b"\x0b", b"\r", b"{", b"}", b"'", b"*",
             b"\x00", b"\xff", b"\x01", b"\n ", b"\n\t", b"\n#c\n "]
    out = []
    for i in range(lines):
        value = b"".join(rnd.choice(alpha) for _ in range(rnd.randrange(13)))
        r = rnd.random()
        if r < 0.6:
            out.append(b"k%d: %s" % (i, value))
        elif r < 0.7:
            out.append(b"K%dUP: %s" % (i, value))
        elif r < 0.85:
            name = b"".join(rnd.choice(alpha) for _ in range(rnd.randrange(7)))
            out.append(name + b": " + value)
        else:
            out.append(value)
    return b"\n".join(out) + b"\n"


# ---- differential: building and reading --------------------------------------

@needs_postfix
@pytest.mark.parametrize("flags", [[], ["-n"], ["-N"], ["-f"], ["-u"]],
                         ids=["default", "no-nul", "nul", "no-fold",
                              "no-utf8"])
@pytest.mark.parametrize("mtype", ["hash", "btree"])
def test_build_query_dump_cross_read(work, mtype, flags):
    text, names = generate_source(
        seed=zlib.crc32(f"{mtype} {flags}".encode()))
    text = FIXED_SOURCE + text
    mine, theirs = mkdirs(work, "ours", "postfix")
    for d in (mine, theirs):
        (d / "aliases").write_bytes(text)

    a = ours(work, [*flags, f"{mtype}:aliases"], mine)
    b = postfix(work, [*flags, f"{mtype}:aliases"], theirs)
    same(a, b, f"building {mtype}:aliases {flags}")
    assert a.rc == 0 and (mine / "aliases.db").is_file()

    corpus = query_corpus(name_keys(names), seed=7)
    stdin = "".join(k + "\n" for k in corpus)
    answers = {}
    for prog_name, prog in (("ours", ours), ("postfix", postfix)):
        for file_name, d in (("ours", mine), ("postfix", theirs)):
            r = prog(work, [*flags, "-q", "-", f"{mtype}:aliases"], d, stdin)
            answers[prog_name, file_name] = r
    ref = answers["postfix", "postfix"]
    assert ref.rc == 0 and ref.out
    for combo, r in answers.items():
        same(r, ref, f"postalias -q - with {combo[0]} reading {combo[1]}'s "
                     f"{mtype} file {flags}")

    # Single -q: exit codes and output, for a sample of keys, cross-read.
    for key in random.Random(3).sample(corpus, 30) + ["@", "YP_MASTER_NAME"]:
        a = ours(work, [*flags, "-q", key, f"{mtype}:aliases"], theirs)
        b = postfix(work, [*flags, "-q", key, f"{mtype}:aliases"], mine)
        same(a, b, f"postalias -q {key!r} (cross-read)")

    dumps = {}
    for prog_name, prog in (("ours", ours), ("postfix", postfix)):
        for file_name, d in (("ours", mine), ("postfix", theirs)):
            r = prog(work, [*flags, "-s", f"{mtype}:aliases"], d)
            dumps[prog_name, file_name] = dump_lines(r)
    for combo, dump in dumps.items():
        assert dump == dumps["postfix", "postfix"], f"postalias -s {combo}"


@needs_postfix
def test_random_sources_match(work):
    """Random text over the tokenizer's special characters: same tables."""
    mine, theirs = mkdirs(work, "ours", "postfix")
    for seed in range(40):
        text = fuzz_source(seed)
        for d in (mine, theirs):
            (d / "aliases").write_bytes(text)
        a = ours(work, ["aliases"], mine)
        b = postfix(work, ["aliases"], theirs)
        same(a, b, f"building random source {seed}")
        assert dump_lines(ours(work, ["-s", "aliases"], mine)) == \
            dump_lines(postfix(work, ["-s", "aliases"], theirs)), \
            f"random source {seed}: {text!r}"


@needs_postfix
def test_signature_entries(work):
    """"@" -> "@" follows -n/-N; the YP entries never carry a NUL."""
    if not os.access(ORACLE_POSTMAP, os.X_OK):
        pytest.skip("Debian's /usr/sbin/postmap is not installed")
    mine, theirs = mkdirs(work, "ours", "postfix")
    for flags, at_nul in (([], True), (["-N"], True), (["-n"], False)):
        for prog, d in ((ours, mine), (postfix, theirs)):
            (d / "aliases").write_text("root: admin\n")
            assert prog(work, [*flags, "aliases"], d).rc == 0
            probes = {}
            for nul in ("-N", "-n"):
                for key in ("@", "YP_MASTER_NAME", "root"):
                    r = run([str(ORACLE_POSTMAP)], work,
                            ["-f", nul, "-q", key, "hash:aliases"], d)
                    probes[nul, key] = (r.rc, r.out)
            assert probes["-N", "@"] == ((0, "@\n") if at_nul else (1, ""))
            assert probes["-n", "@"] == ((1, "") if at_nul else (0, "@\n"))
            assert probes["-N", "root"] == \
                ((0, "admin\n") if at_nul else (1, ""))
            assert probes["-n", "root"] == \
                ((1, "") if at_nul else (0, "admin\n"))
            assert probes["-n", "YP_MASTER_NAME"] == (0, HOSTNAME + "\n")
            assert probes["-N", "YP_MASTER_NAME"] == (1, "")


@needs_postfix
@pytest.mark.parametrize("args", [
    ["missing"],
    ["-q", "x", "missing"],
    ["-s", "missing"],
    ["-d", "x", "missing"],
    ["-q", "x", "bogus:whatever"],
    ["bogus:whatever"],
    [],
    ["-x", "aliases"],
    ["-b", "aliases"],
    ["-q", "a", "-s", "aliases"],
    ["-q", "a", "-d", "b", "aliases"],
    ["-s", "-q", "a", "aliases"],
    ["-d", "a", "-s", "aliases"],
    ["-q", "a", "-q", "b", "aliases"],
    ["-q", "root", "fail:foo"],
    ["-q", "root", "aliases", "fail:foo"],
    ["-q", "root", "fail:foo", "aliases"],
    ["-q", "root", "aliases", "missing"],
    ["-s", "fail:foo"],
    ["-d", "root", "fail:foo"],
    ["texthash:aliases"],
    ["regexp:aliases"],
    ["-q", "root", "aliases"],
    ["-q", "ROOT", "aliases"],
    ["-f", "-q", "ROOT", "aliases"],
    ["-q", "", "aliases"],
    ["-q", "nosuch", "aliases"],
    ["-q", "root", "inline:{root=x}"],
    ["-q", "root", "static:all"],
    ["-s", "aliases", "hash:other"],
    ["-s", "hash:other", "aliases"],
], ids=lambda a: " ".join(a) or "no-arguments")
def test_commands_match(work, args):
    mine, theirs = mkdirs(work, "ours", "postfix")
    for prog, d in ((ours, mine), (postfix, theirs)):
        (d / "aliases").write_text("root: admin\nlist: a, b\n")
        (d / "other").write_text("other: x\n")
        assert prog(work, ["aliases", "other"], d).rc == 0
    a = ours(work, args, mine)
    b = postfix(work, args, theirs)
    if "-s" in args and a.rc == b.rc == 0:
        # Listings: the same entries (in .db order, with the build time).
        assert dump_lines(a) == dump_lines(b), " ".join(args)
    else:
        same(a, b, " ".join(args))


@needs_postfix
def test_incremental_and_delete_match(work):
    text, names = generate_source(seed=21, n=300)
    keys = name_keys(names)
    mine, theirs = mkdirs(work, "ours", "postfix")
    for d in (mine, theirs):
        (d / "aliases").write_bytes(text)
    steps = [
        (["aliases"], None),
        (["-i", "aliases"], "new1: value one\nalias1: replaced?\nBad\n"
                            "NEW2: two, three\n\"@\": at\n"),
        (["-i", "-r", "aliases"], "alias1: replaced\n"),
        (["-i", "-w", "aliases"], "alias1: not again\n"),
        (["-d", keys[0], "aliases"], None),
        (["-d", keys[0], "aliases"], None),
        (["-d", "@", "aliases"], None),
        (["-d", "-", "aliases"], "".join(k + "\n" for k in keys[5:60])
                                 + "zz\n\n"),
        (["-d", "-", "aliases"], "nothing\nhere\n"),
        (["-i", "hash:fresh"], "a: 1\nb: 2\n"),
        (["-q", "-", "aliases", "hash:fresh"], "a\nb\nnew1\n@\n"
                                               + keys[70] + "\n"),
        (["-q", "b", "aliases", "hash:fresh"], None),
        (["-N", "-i", "aliases"], "nul: yes\n"),
        (["-q", "nul", "aliases"], None),
    ]
    for args, stdin in steps:
        a = ours(work, args, mine, stdin)
        b = postfix(work, args, theirs, stdin)
        same(a, b, f"postalias {' '.join(args)}")
        for name in ("aliases", "fresh"):
            if (theirs / f"{name}.db").exists():
                assert dump_lines(ours(work, ["-s", name], mine)) == \
                    dump_lines(postfix(work, ["-s", name], theirs)), args


@needs_postfix
def test_newaliases_matches_postalias(work):
    """newaliases builds every alias_database table, like postalias."""
    mine, theirs = mkdirs(work, "ours", "postfix")
    conf = work / "conf"
    conf.mkdir()
    (conf / "main.cf").write_text(
        MAIN_CF + f"alias_database = hash:{mine}/a1,\n"
                  f"    {mine}/a2 btree:{mine}/a3\n")
    for d in (mine, theirs):
        (d / "a1").write_text("root: admin\nPostmaster: root\n")
        (d / "a2").write_text("list: a,\n  b\n")
        (d / "a3").write_text("x: y\n")
    link = work / "newaliases"
    link.symlink_to(POSTALIAS)
    r = run([str(link)], conf, [], mine)
    assert (r.rc, r.out, r.err) == (0, "", ""), r
    for name, mtype in (("a1", "hash"), ("a2", "hash"), ("a3", "btree")):
        assert postfix(work, [f"{mtype}:{name}"], theirs).rc == 0
        assert dump_lines(ours(work, ["-s", f"{mtype}:{name}"], mine)) == \
            dump_lines(postfix(work, ["-s", f"{mtype}:{name}"], theirs))
        r = postfix(work, ["-q", "root" if name == "a1" else "list",
                           f"{mtype}:{name}"], mine)
        assert r.rc == (0 if name != "a3" else 1), r


@needs_postfix
def test_permissions_match(work):
    mine, theirs = mkdirs(work, "ours", "postfix")
    for mode in (0o640, 0o600, 0o644):
        for prog, d in ((ours, mine), (postfix, theirs)):
            for f in d.iterdir():
                f.unlink()
            (d / "aliases").write_text("root: admin\n")
            os.chmod(d / "aliases", mode)
            assert prog(work, ["aliases"], d).rc == 0
        assert stat.S_IMODE(os.stat(mine / "aliases.db").st_mode) == \
            stat.S_IMODE(os.stat(theirs / "aliases.db").st_mode), oct(mode)


# ---- ours alone -------------------------------------------------------------

def test_warnings_name_file_and_line(work):
    (work / "aliases").write_bytes(
        b"  lead: x\nok: 1\nnocolon\nempty:\nuser@dom: x\ndup: 1\n"
        b"# c\nDUP: 2\nbad: \xff\n\"\": e\n")
    r = ours(work, ["aliases"], work)
    assert r.rc == 0 and r.out == ""
    lines = r.err.splitlines()
    assert len(lines) == 7, lines
    for number, word in ((1, "continu"), (3, "':'"), (4, "value"),
                         (5, "local"), (8, "duplicate"), (9, "UTF-8"),
                         (10, "empty")):
        assert any(line.startswith(f"postalias: warning: aliases, line "
                                   f"{number}: ") and word in line
                   for line in lines), (number, word, lines)
    assert 'duplicate entry: "dup"' in r.err
    assert ours(work, ["-q", "dup", "aliases"], work).out == "1\n"
    # -r: the last one wins, quietly; -w: the first one, quietly.
    (work / "aliases").write_text("dup: 1\nDUP: 2\n")
    r = ours(work, ["-r", "aliases"], work)
    assert (r.rc, r.err) == (0, "")
    assert ours(work, ["-q", "dup", "aliases"], work).out == "2\n"
    r = ours(work, ["-w", "aliases"], work)
    assert (r.rc, r.err) == (0, "")
    assert ours(work, ["-q", "dup", "aliases"], work).out == "1\n"
    r = ours(work, ["-i", "aliases"], work, "dup: again\n")
    assert r.err == \
        'postalias: warning: stdin, line 1: duplicate entry: "dup"\n'


def test_exit_codes_and_formats(work):
    (work / "aliases").write_text("root: admin\nlist: a,b\n")
    assert ours(work, ["aliases"], work).rc == 0
    r = ours(work, ["-q", "ROOT", "aliases"], work)
    assert (r.rc, r.out) == (0, "admin\n")
    assert ours(work, ["-q", "z", "aliases"], work).rc == 1
    r = ours(work, ["-q", "-", "aliases"], work, "z\nList\n\n")
    assert (r.rc, r.out) == (0, "List:\ta, b\n")
    assert ours(work, ["-q", "-", "aliases"], work, "z\n").rc == 1
    assert ours(work, ["-d", "root", "aliases"], work).rc == 0
    assert ours(work, ["-d", "root", "aliases"], work).rc == 1
    r = ours(work, ["-s", "aliases"], work)
    assert dump_lines(r) == ["@:\t@", "YP_LAST_MODIFIED:\tTIME",
                             f"YP_MASTER_NAME:\t{HOSTNAME}", "list:\ta, b"]
    r = ours(work, [], work)
    assert r.rc == 1 and r.err.startswith("postalias: fatal: usage: ")
    r = ours(work, ["-c", str(work / "nonexistent"), "-q", "a", "aliases"],
             work)
    assert r.rc == 1 and "postalias: fatal: " in r.err
    # MAIL_CONFIG is honoured without -c.
    env = dict(os.environ, MAIL_CONFIG=str(work))
    proc = subprocess.run([str(POSTALIAS), "-q", "list", "aliases"], cwd=work,
                          capture_output=True, text=True, env=env)
    assert (proc.returncode, proc.stdout) == (0, "a, b\n"), proc.stderr


def test_newaliases(work):
    conf = work / "conf"
    conf.mkdir()
    (conf / "main.cf").write_text(
        MAIN_CF + f"alias_database = hash:{work}/a1, {work}/a2\n")
    (work / "a1").write_text("root: admin\n")
    (work / "a2").write_text("list: x\n")
    link = work / "newaliases"
    link.symlink_to(POSTALIAS)
    r = run([str(link)], conf, [], work)
    assert (r.rc, r.err) == (0, ""), r
    assert ours(work, ["-q", "root", "a1"], work).out == "admin\n"
    assert ours(work, ["-q", "list", "a2"], work).out == "x\n"
    # -C names main.cf (sendmail style); -v is accepted.
    os.unlink(work / "a2.db")
    proc = subprocess.run([str(link), "-v", "-C", str(conf / "main.cf")],
                          cwd=work, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (work / "a2.db").exists()
    # A missing source is fatal; the tables before it are built.
    os.unlink(work / "a2")
    os.unlink(work / "a1.db")
    r = run([str(link)], conf, [], work)
    assert r.rc == 1 and "fatal" in r.err and "a2" in r.err, r
    assert (work / "a1.db").exists()
    # newaliases takes no table arguments.
    r = run([str(link)], conf, ["a1"], work)
    assert r.rc == 1 and "usage" in r.err


def test_no_temporary_files_left(work):
    text, _ = generate_source(seed=3, n=500)
    (work / "aliases").write_bytes(text)
    for mtype in ("hash", "btree", "dbm"):
        assert ours(work, [f"{mtype}:aliases"], work).rc == 0
    assert sorted(p.name for p in work.iterdir()) == ["aliases",
                                                       "aliases.db",
                                                       "main.cf"]


def test_failed_build_keeps_old_table(work):
    (work / "aliases").write_text("k: old\n")
    assert ours(work, ["aliases"], work).rc == 0
    r = ours(work, ["aliases", "missing"], work)
    assert r.rc == 1 and "missing" in r.err
    assert ours(work, ["-q", "k", "aliases"], work).out == "old\n"

    # Killed half-way through a build: readers keep the old table, and the
    # half-built one is removed. The source is a FIFO, so the build waits.
    os.unlink(work / "aliases")
    os.mkfifo(work / "aliases")
    proc = subprocess.Popen([str(POSTALIAS), "-c", str(work), "aliases"],
                            cwd=work, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    with open(work / "aliases", "w") as fifo:
        fifo.write("k: new\n" + "".join(f"key{i}: v\n" for i in range(1000)))
        fifo.flush()
        time.sleep(0.5)
        assert ours(work, ["-q", "k", "aliases"], work).out == "old\n"
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert ours(work, ["-q", "k", "aliases"], work).out == "old\n"
    assert sorted(p.name for p in work.iterdir()) == ["aliases",
                                                       "aliases.db",
                                                       "main.cf"]


def test_new_file_permissions(work):
    (work / "aliases").write_text("a: 1\n")
    os.chmod(work / "aliases", 0o640)
    assert ours(work, ["aliases"], work).rc == 0
    assert stat.S_IMODE(os.stat(work / "aliases.db").st_mode) == 0o640
    os.unlink(work / "aliases.db")
    assert ours(work, ["-p", "aliases"], work).rc == 0
    assert stat.S_IMODE(os.stat(work / "aliases.db").st_mode) == 0o644


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to change owners")
def test_owner_follows_source_as_root(work):
    nobody = pwd.getpwnam("nobody")
    (work / "aliases").write_text("a: 1\n")
    os.chown(work / "aliases", nobody.pw_uid, nobody.pw_gid)
    assert ours(work, ["aliases"], work).rc == 0
    st = os.stat(work / "aliases.db")
    assert (st.st_uid, st.st_gid) == (nobody.pw_uid, nobody.pw_gid)
    os.unlink(work / "aliases.db")
    assert ours(work, ["-o", "aliases"], work).rc == 0
    assert os.stat(work / "aliases.db").st_uid == 0


def test_large_table(work):
    """100,000 names: built, and every one found."""
    names = [f"user{i}" for i in range(100000)]
    (work / "aliases").write_text(
        "".join(f"{n}: {n}@example.com, archive\n" for n in names))
    r = ours(work, ["aliases"], work)
    assert (r.rc, r.err) == (0, "")
    sample = random.Random(5).sample(names, 2000)
    r = ours(work, ["-q", "-", "aliases"], work,
             "".join(n.upper() + "\n" for n in sample))
    assert r.rc == 0
    assert r.out.count("\n") == len(sample)
