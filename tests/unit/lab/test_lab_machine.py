"""The machine checks of lab.py deps: inotify instances and Docker's FORWARD DROP policy."""

from lab_machine import LAB_INOTIFY_INSTANCES, forward_drop_warning, inotify_raise

DOCKER_FORWARD = """\
-P FORWARD DROP
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-FORWARD
"""


def test_the_default_128_instances_are_raised_for_the_lab():
    assert inotify_raise(128) == LAB_INOTIFY_INSTANCES == 1024


def test_a_machine_that_allows_enough_is_left_alone():
    assert inotify_raise(1024) is None
    assert inotify_raise(65536) is None


def test_dockers_drop_policy_with_bridge_netfilter_warns_and_names_docker_user():
    warning = forward_drop_warning(DOCKER_FORWARD, "1\n")
    assert warning is not None
    assert "Docker set the FORWARD policy to DROP" in warning
    assert "iptables -I DOCKER-USER" in warning


def test_no_warning_when_bridged_frames_skip_iptables_or_the_policy_accepts():
    assert forward_drop_warning(DOCKER_FORWARD, "0") is None
    assert forward_drop_warning("-P FORWARD ACCEPT\n-A FORWARD -j DOCKER-USER\n", "1") is None


def test_a_drop_policy_without_docker_names_the_forward_chain():
    warning = forward_drop_warning("-P FORWARD DROP\n", "1")
    assert warning is not None and "iptables -I FORWARD" in warning
