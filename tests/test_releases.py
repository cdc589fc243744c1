"""The releases a table describes: versions, the nearest described release, what each mode was recorded on."""

from __future__ import annotations

from packaging.version import Version

from autograd_conformance.expectations import Table
from autograd_conformance.releases import Releases, nearest, torch_release


def test_torch_release_drops_the_local_part():
    assert str(torch_release("2.13.0+cpu")) == "2.13.0"
    assert str(torch_release("2.15.0rc1")) == "2.15.0rc1"


def test_a_torch_the_table_does_not_describe_resolves_as_the_nearest_described_release(tmp_path):
    (tmp_path / "fam.toml").write_text('["fam/t"]\n"x.is_leaf" = true\n')
    (tmp_path / "_releases.toml").write_text('described = ["2.1.2", "2.13.0", "2.14.1"]\n')
    table = Table.load(tmp_path, "2.13.0")
    assert table.releases.nearest("2.13.0+cpu") == ("2.13.0+cpu", None)
    assert table.releases.nearest("2.14.0")[0] == "2.14.1"  # its own minor line
    assert table.releases.nearest("2.16.0.dev20260101")[0] == "2.14.1"  # newer than the newest
    assert table.releases.nearest("2.5.0")[0] == "2.1.2"  # between: the newest below
    version, note = table.releases.nearest("2.0.1")
    assert version == "2.1.2" and "not described by the table (2.1.2 … 2.14.1)" in note  # older than the oldest


def test_a_mode_recorded_on_some_releases_says_so_elsewhere(tmp_path):
    (tmp_path / "fam.toml").write_text('["fam/t"]\n"x.is_leaf" = true\n')
    (tmp_path / "_releases.toml").write_text('described = ["2.13.0", "2.14.1"]\n[modes]\ncompile = ["2.13.0"]\n')
    table = Table.load(tmp_path, "2.14.1")
    assert table.releases.mode_note("compile", "2.13.0+cpu") is None
    assert table.releases.mode_note("eager", "2.14.1") is None
    assert table.releases.mode_note("compile", "2.14.1") == (
        "compile mode was recorded on torch 2.13.0 only: its rows on torch 2.14.1 state what it did there")


def test_nearest_prefers_the_minor_line_then_the_newest_below_then_the_oldest():
    described = [Version(v) for v in ("2.1.2", "2.13.0", "2.14.1")]
    assert nearest(described, Version("2.13.0")) == Version("2.13.0")
    assert nearest(described, Version("2.14.0")) == Version("2.14.1")
    assert nearest(described, Version("2.12.1")) == Version("2.1.2")
    assert nearest(described, Version("1.13.1")) == Version("2.1.2")


def test_each_layer_is_resolved_for_its_own_described_releases():
    releases = Releases({0: [Version("2.13.0"), Version("2.1.2"), Version("2.13.0")], 1: [Version("2.5.1")]})
    assert releases.described == [Version("2.1.2"), Version("2.13.0")]  # the lowest layer's, sorted, once each
    assert releases.version_for(1, Version("2.13.0")) == Version("2.5.1")
    assert releases.version_for(2, Version("2.13.0")) == Version("2.13.0")  # a layer that lists none


def test_devices_are_recorded_per_release_and_a_team_layer_adds_its_own(tmp_path):
    bundled, team = tmp_path / "bundled", tmp_path / "team"
    for directory in (bundled, team):
        directory.mkdir()
        (directory / "fam.toml").write_text('["fam/t"]\n"x.is_leaf" = true\n')
    (bundled / "_releases.toml").write_text('described = ["2.13.0", "2.14.1"]\n[devices]\ncpu = ["2.13.0", "2.14.1"]\n')
    (team / "_releases.toml").write_text('[devices]\ncuda = ["2.13.0"]\n')
    alone = Table.load(bundled, "2.14.1").releases
    assert alone.device_recorded_on("cpu", "2.14.1+cu130") and not alone.device_recorded_on("cuda", "2.13.0")
    assert alone.device_note("cpu", "2.14.1") is None
    assert alone.device_note("cuda", "2.14.0").startswith(  # resolved as its nearest release, 2.14.1
        "the table has no recording of cuda for torch 2.14.1 (its rows were recorded on cpu): cuda probes that "
        "differ get verdict 'unrecorded'")
    layered = Table.load([bundled, team], "2.14.1").releases
    assert layered.device_recorded_on("cuda", "2.13.0+cu130") and not layered.device_recorded_on("cuda", "2.14.1")
    assert "; cuda was recorded on torch 2.13.0)" in layered.device_note("cuda", "2.14.1")


def test_a_table_that_states_no_devices_was_recorded_on_the_reference_device(tmp_path):
    (tmp_path / "fam.toml").write_text('["fam/t"]\n"x.is_leaf" = true\n')
    releases = Table.load(tmp_path, "2.13.0").releases
    assert releases.device_recorded is None
    assert releases.device_recorded_on("cpu", "2.13.0") and not releases.device_recorded_on("mps", "2.13.0")
