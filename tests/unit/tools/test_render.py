"""tools/render.py's command line: a host's rendered files for review, without a run."""

from pathlib import Path

import pytest

from tools.render import FILES, main, rendered_files

REPO = Path(__file__).resolve().parents[3]
LAB = str(REPO / "inventory" / "lab")


def test_prints_every_file_of_the_host_as_the_golden_tests_render_it(capsys):
    assert main(["-i", LAB, "host3"]) == 0
    out = capsys.readouterr().out
    expected = rendered_files(Path(LAB))["host3"]
    for name in FILES:
        assert f"===== host3/{name}\n{expected[name]}" in out


def test_prints_only_the_files_asked_for(capsys):
    assert main(["-i", LAB, "host1", "iptables"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("===== host1/iptables\n")
    assert "bird.conf" not in out


def test_a_host_outside_the_fleet_is_refused_naming_the_fleet(capsys):
    assert main(["-i", LAB, "host9"]) == 2
    assert "'host9' is not a host of the fleet (host1, host2, host3, host4)" in (
        capsys.readouterr().err
    )


def test_an_unknown_file_name_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["-i", LAB, "host1", "bird.cfg"])
    assert exit_.value.code == 2
    assert "no such file: bird.cfg" in capsys.readouterr().err


def test_an_unreadable_inventory_is_reported_not_raised(tmp_path, capsys):
    assert main(["-i", str(tmp_path / "nowhere"), "host1"]) == 1
    assert "does not exist" in capsys.readouterr().err
