"""A stand-in for Colab's ``google.colab`` package, for the simulated Colab course.

Only what the course calls: ``drive.mount`` (maps the mount point to the simulation's
shared "Drive" folder) and ``output.serve_kernel_port_as_iframe`` (fetches the port the
way Colab's proxy would, and records what answered). Configured by environment
variables that the simulation sets: ``COLAB_SIM_DRIVE``, ``COLAB_SIM_LOG`` and
``COLAB_SIM_DECLINE_DRIVE``.
"""

from . import drive, output

__all__ = ["drive", "output"]
