"""Stand-in for ``google.colab.drive``: the shared "Drive" folder, linked at the mount point."""

import os
from pathlib import Path

from google.colab._log import record


class MessageError(RuntimeError):
    """What Colab raises when the intern declines access to Drive."""


def mount(mountpoint: str, force_remount: bool = False, timeout_ms: int = 120000) -> None:
    if os.environ.get("COLAB_SIM_DECLINE_DRIVE") == "1":
        record("drive.mount", mountpoint=mountpoint, declined=True)
        raise MessageError("Error: credential propagation was unsuccessful")
    drive = Path(os.environ["COLAB_SIM_DRIVE"])
    (drive / "MyDrive").mkdir(parents=True, exist_ok=True)
    point = Path(mountpoint)
    point.parent.mkdir(parents=True, exist_ok=True)
    if point.is_symlink() and force_remount:
        point.unlink()
    if not point.exists():
        point.symlink_to(drive, target_is_directory=True)
    record("drive.mount", mountpoint=mountpoint, declined=False)
    print(f"Mounted at {mountpoint}")
