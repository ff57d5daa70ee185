import re

import pytest
from lab_errors import LabError
from lab_image import (
    IMAGE_PACKAGES,
    IMAGE_RECIPE,
    apt_source_entries,
    image_ref,
    image_tag,
    pick_mirror,
)

MIRROR = "http://mirror.example.invalid/debian"


def test_tag_is_twelve_hex_and_stable():
    tag = image_tag(IMAGE_PACKAGES, IMAGE_RECIPE)
    assert re.fullmatch(r"[0-9a-f]{12}", tag)
    assert image_tag(list(IMAGE_PACKAGES), dict(IMAGE_RECIPE)) == tag
    assert image_ref() == f"localhost/calico-lab-node:{tag}"


def test_tag_ignores_package_order():
    assert image_tag(reversed(IMAGE_PACKAGES), IMAGE_RECIPE) == image_tag(
        IMAGE_PACKAGES, IMAGE_RECIPE
    )


def test_tag_changes_with_packages_or_recipe():
    tag = image_tag(IMAGE_PACKAGES, IMAGE_RECIPE)
    assert image_tag((*IMAGE_PACKAGES, "curl"), IMAGE_RECIPE) != tag
    assert image_tag(IMAGE_PACKAGES, {**IMAGE_RECIPE, "version": -1}) != tag


def test_image_has_what_the_lab_needs_and_keeps_frr_off():
    for pkg in ("systemd", "bird2", "frr", "iptables", "python3", "tcpdump", "netcat-openbsd"):
        assert pkg in IMAGE_PACKAGES
    assert ["systemctl", "disable", "frr.service"] in IMAGE_RECIPE["chroot"]
    assert "--variant=minbase" in IMAGE_RECIPE["debootstrap"]


DEB822 = f"""Types: deb
# a comment
URIs: {MIRROR}
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example.invalid/debian-security
Suites: bookworm-security
Components: main
"""


def test_mirror_comes_from_deb822_sources():
    assert pick_mirror(apt_source_entries([DEB822], [])) == MIRROR


def test_mirror_comes_from_one_line_sources_with_options():
    text = "# deb http://old.example.invalid/debian bookworm main\n"
    text += f"deb [arch=amd64 signed-by=/k.gpg] {MIRROR}/ bookworm main\n"
    text += "deb-src http://src.example.invalid/debian bookworm main\n"
    assert pick_mirror(apt_source_entries([], [text])) == MIRROR


def test_disabled_and_foreign_suites_are_skipped():
    disabled = (
        "Types: deb\nURIs: http://off.example.invalid/debian\nSuites: bookworm\nEnabled: no\n"
    )
    vendor = "deb http://vendor.example.invalid/apt cloud-sdk-bookworm main\n"
    entries = apt_source_entries([disabled, DEB822], [vendor])
    assert pick_mirror(entries) == MIRROR


def test_other_debian_release_mirror_is_used_for_bookworm():
    trixie = "Types: deb\nURIs: http://t.example.invalid/debian\nSuites: trixie-security trixie\n"
    assert pick_mirror(apt_source_entries([trixie], [])) == "http://t.example.invalid/debian"


def test_no_mirror_is_a_clear_error():
    with pytest.raises(LabError, match="--mirror"):
        pick_mirror([])


def test_an_ubuntu_machine_has_no_debian_mirror_and_is_told_how_to_pass_one():
    ubuntu = (
        "Types: deb\nURIs: http://archive.example.invalid/ubuntu/\n"
        "Suites: noble noble-updates noble-backports\nComponents: main universe\n"
    )
    with pytest.raises(LabError, match=r"they name noble.*not Debian.*MIRROR=URL"):
        pick_mirror(apt_source_entries([ubuntu], []))


def test_a_debian_mirror_listed_on_an_ubuntu_machine_is_found():
    ubuntu = "deb http://archive.example.invalid/ubuntu noble main\n"
    debian = f"deb {MIRROR} bookworm main\n"
    assert pick_mirror(apt_source_entries([], [ubuntu, debian])) == MIRROR
