"""postconf on an installed tree: -n, -d, -h, -x, -o, -c / MAIL_CONFIG,
the warnings, and the main.cf editing forms -e, -X and -#."""

import os
import re
import shutil

import pytest

from conftest import install_into
from test_install import MAINCF_VARS


# One installation for this module (each install rebuilds and relinks):
# every test gets it with main.cf and master.cf as installed, and any file
# a test leaves in config_directory is removed after it.
@pytest.fixture(scope="module")
def _installed(tmp_path_factory):
    inst = install_into(tmp_path_factory.mktemp("postconf") / "inst")
    saved = {p: p.read_bytes() for p in (inst.main_cf, inst.master_cf)}
    return inst, saved


@pytest.fixture
def instance(_installed):
    inst, saved = _installed
    before = set(inst.config_dir.iterdir())
    yield inst
    for path in set(inst.config_dir.iterdir()) - before:
        path.unlink()
    for path, data in saved.items():
        path.write_bytes(data)
        path.chmod(0o644)


def lines(text):
    return text.splitlines()


def as_dict(text):
    out = {}
    for line in lines(text):
        m = re.fullmatch(r"(\S+) =(?: (.*))?", line)
        assert m, f"not a 'name = value' line: {line!r}"
        out[m.group(1)] = m.group(2) or ""
    return out


def ok(proc):
    assert proc.returncode == 0, proc.stderr
    return proc


# ---- showing ----------------------------------------------------------------


def test_n_shows_the_install_answers(instance):
    proc = ok(instance.postconf("-n"))
    # A fresh install draws no warning: every parameter in it is known.
    assert proc.stderr == ""
    got = as_dict(proc.stdout)
    for name in MAINCF_VARS:
        assert got[name] == instance.answers[name], name
    assert got["alias_maps"] == "hash:$config_directory/aliases"
    names = [line.split(" =")[0] for line in lines(proc.stdout)]
    assert names == sorted(names)


def test_no_argument_shows_every_parameter(instance):
    proc = ok(instance.postconf())
    got = as_dict(proc.stdout)
    assert got["queue_directory"] == instance.args["queue_directory"]
    assert got["message_size_limit"] == "10240000"
    assert len(got) > 50
    names = list(got)
    assert names == sorted(names)


def test_d_shows_the_compiled_in_defaults(instance):
    # The install rebuilt postconf with its answers as defaults.
    proc = ok(instance.postconf("-d", "queue_directory", "mail_owner",
                                "message_size_limit"))
    assert proc.stdout == (
        f"queue_directory = {instance.args['queue_directory']}\n"
        "mail_owner = postern\n"
        "message_size_limit = 10240000\n")


def test_d_needs_no_main_cf(instance, tmp_path):
    # As Postfix's: the defaults can be shown before anything is installed.
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = instance.run([instance.command("postconf"), "-c", empty,
                         "-d", "-h", "mail_owner"])
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "postern\n", "")


def test_d_ignores_main_cf(instance):
    with open(instance.main_cf, "a") as f:
        f.write("message_size_limit = 1000\n")
    assert ok(instance.postconf("-h", "message_size_limit")).stdout == "1000\n"
    assert ok(instance.postconf("-dh", "message_size_limit")).stdout == "10240000\n"


def test_h_shows_values_only(instance):
    proc = ok(instance.postconf("-h", "queue_directory", "mail_owner"))
    assert proc.stdout == f"{instance.args['queue_directory']}\npostern\n"


def test_x_expands_values(instance):
    raw = ok(instance.postconf("alias_maps")).stdout
    assert raw == "alias_maps = hash:$config_directory/aliases\n"
    expanded = ok(instance.postconf("-x", "alias_maps")).stdout
    assert expanded == f"alias_maps = hash:{instance.config_dir}/aliases\n"


def test_o_overrides(instance):
    proc = ok(instance.postconf("-o", "myhostname=over.example",
                                "-h", "myhostname"))
    assert proc.stdout == "over.example\n"
    # Nothing was written.
    assert "over.example" not in instance.main_cf.read_text()


def test_c_and_mail_config_choose_the_directory(instance, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(instance.main_cf, other / "main.cf")
    shutil.copy(instance.master_cf, other / "master.cf")
    with open(other / "main.cf", "a") as f:
        f.write("myhostname = other.example\n")
    cmd = instance.command("postconf")
    by_c = ok(instance.run([cmd, "-c", other, "-h", "myhostname"]))
    assert by_c.stdout == "other.example\n"
    env = dict(os.environ, MAIL_CONFIG=str(other))
    by_env = ok(instance.run([cmd, "-h", "myhostname"], env=env))
    assert by_env.stdout == "other.example\n"


# ---- warnings -----------------------------------------------------------------


def test_misspelt_parameter_is_warned_about(instance):
    with open(instance.main_cf, "a") as f:
        f.write("mesage_size_limit = 100\n")
    proc = ok(instance.postconf("-n"))
    want = (f"postconf: warning: {instance.main_cf}: "
            "unused parameter: mesage_size_limit=100")
    assert want in lines(proc.stderr)
    # Like Postfix, -n shows only parameters something uses.
    assert "mesage_size_limit" not in proc.stdout


def test_unknown_parameter_asked_for(instance):
    proc = instance.postconf("no_such_parameter", "mail_owner")
    assert "postconf: warning: no_such_parameter: unknown parameter" \
        in lines(proc.stderr)
    assert proc.stdout == "mail_owner = postern\n"


# ---- editing: -e, -X, -# --------------------------------------------------------

EDIT_CF = """\
# A main.cf with comments, blank lines and a continued value.

myhostname = mx1.example.com
# between
smtpd_recipient_restrictions = permit_mynetworks,
    permit_sasl_authenticated,
    reject_unauth_destination

  # indented comment
relayhost = [mail.isp.example]:submission
message_size_limit = 20480000
"""


@pytest.fixture
def edit_cf(instance):
    """The instance with EDIT_CF (plus the install answers) as main.cf."""
    answers = "".join(f"{name} = {instance.answers[name]}\n" for name in MAINCF_VARS)
    text = EDIT_CF + answers
    instance.main_cf.write_text(text)
    instance.main_cf.chmod(0o644)
    return instance, text


def test_e_changes_one_line_and_keeps_the_rest(edit_cf):
    inst, before = edit_cf
    inode = inst.main_cf.stat().st_ino
    ok(inst.postconf("-e", "myhostname=mx2.example.com"))
    after = inst.main_cf.read_text()
    assert after == before.replace("myhostname = mx1.example.com",
                                   "myhostname = mx2.example.com")
    # Replaced through a new file (atomic), with the same mode.
    assert inst.main_cf.stat().st_ino != inode
    assert inst.main_cf.stat().st_mode & 0o777 == 0o644
    assert ok(inst.postconf("-h", "myhostname")).stdout == "mx2.example.com\n"


def test_e_replaces_a_continued_value(edit_cf):
    inst, before = edit_cf
    ok(inst.postconf("-e", "smtpd_recipient_restrictions = permit_mynetworks, reject"))
    want = before.replace(
        "smtpd_recipient_restrictions = permit_mynetworks,\n"
        "    permit_sasl_authenticated,\n"
        "    reject_unauth_destination\n",
        "smtpd_recipient_restrictions = permit_mynetworks, reject\n")
    assert inst.main_cf.read_text() == want


def test_e_appends_new_parameters_in_order(edit_cf):
    inst, before = edit_cf
    ok(inst.postconf("-e", "mydomain=example.com", "relayhost=",
                     "myorigin = $mydomain"))
    # Postfix writes an empty value as "name = " (with the space).
    want = before.replace("relayhost = [mail.isp.example]:submission",
                          "relayhost = ")
    assert inst.main_cf.read_text() in (
        want + "mydomain = example.com\nmyorigin = $mydomain\n",
        want + "myorigin = $mydomain\nmydomain = example.com\n")
    got = as_dict(ok(inst.postconf("-n", "-x")).stdout)
    assert got["myorigin"] == "example.com"


def test_X_removes_parameters(edit_cf):
    inst, before = edit_cf
    ok(inst.postconf("-X", "smtpd_recipient_restrictions", "relayhost"))
    want = before.replace(
        "smtpd_recipient_restrictions = permit_mynetworks,\n"
        "    permit_sasl_authenticated,\n"
        "    reject_unauth_destination\n", "").replace(
        "relayhost = [mail.isp.example]:submission\n", "")
    assert inst.main_cf.read_text() == want
    assert "relayhost" not in as_dict(ok(inst.postconf("-n")).stdout)


def test_hash_comments_parameters_out(edit_cf):
    inst, before = edit_cf
    ok(inst.postconf("-#", "smtpd_recipient_restrictions", "message_size_limit"))
    want = before.replace(
        "smtpd_recipient_restrictions = permit_mynetworks,\n"
        "    permit_sasl_authenticated,\n"
        "    reject_unauth_destination\n",
        "#smtpd_recipient_restrictions = permit_mynetworks,\n"
        "#    permit_sasl_authenticated,\n"
        "#    reject_unauth_destination\n").replace(
        "message_size_limit = 20480000\n", "#message_size_limit = 20480000\n")
    assert inst.main_cf.read_text() == want
    assert ok(inst.postconf("-h", "message_size_limit")).stdout == "10240000\n"


def test_n_after_edits_shows_continued_value_on_one_line(edit_cf):
    inst, _ = edit_cf
    got = as_dict(ok(inst.postconf("-n")).stdout)
    assert got["smtpd_recipient_restrictions"] == \
        "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination"
    assert got["relayhost"] == "[mail.isp.example]:submission"
