"""A format-1 checkpoint (no numpy section) is refused by the numpy reader with its own reason, which
names the upgrade command, not the "newer than this muser" reason of a file from a later muser."""
import struct

import pytest

from muser_model.core.checkpoint import FORMAT_VERSION, load_checkpoint, load_numpy_section
from muser_model.core.errors import CheckpointFormatTooOldError, CheckpointVersionError
from tests.core.test_checkpoint import _write_format1


@pytest.fixture()
def format1_file(tiny_checkpoint, tmp_path):
    old = tmp_path / "old.muser"
    _write_format1(load_checkpoint(tiny_checkpoint), old)
    return old


def test_format1_has_its_own_reason_naming_the_upgrade_command(format1_file):
    with pytest.raises(CheckpointFormatTooOldError) as info:
        load_numpy_section(format1_file)
    message = str(info.value)
    assert message.startswith(f"{format1_file}: checkpoint format 1 has no numpy section")
    assert f"python -m muser_model.torch_engine.checkpoint_export upgrade {format1_file}" in message
    assert "newer" not in message


def test_format1_error_is_still_a_version_error(format1_file):
    with pytest.raises(CheckpointVersionError):
        load_numpy_section(format1_file)


def test_a_newer_format_keeps_the_newer_reason(tiny_checkpoint, tmp_path):
    data = bytearray(tiny_checkpoint.read_bytes())
    data[8:12] = struct.pack("<I", FORMAT_VERSION + 1)
    newer = tmp_path / "newer.muser"
    newer.write_bytes(bytes(data))
    with pytest.raises(CheckpointVersionError) as info:
        load_numpy_section(newer)
    assert not isinstance(info.value, CheckpointFormatTooOldError)
    assert "checkpoint format is newer than this muser" in str(info.value)
