"""Calibrated costs: profiles of real models measured on real devices, and the harness that measures them.

Importing this package needs neither torch nor transformers: the profile format (`profile`), the timing and
statistics code (`timing`) and the service-time model built on profiles (`cost_model`) are plain numpy. The
harness (`harness`) and the model recipes (`zoo`) import torch and transformers when they run; install them
with ``pip install '.[calibrate]'``.
"""

from simulator.calibration.cost_model import ProfileCostModel
from simulator.calibration.profile import (
    BatchCurve,
    Profile,
    ProfileError,
    ProfileRow,
    derive_rows,
    load_profile,
    read_profile,
    resolve_profile,
    shipped_profiles,
    write_profile,
)
from simulator.calibration.timing import LatencyStats, TimingPlan, WallTimer, latency_stats, measure

__all__ = [
    "BatchCurve",
    "LatencyStats",
    "Profile",
    "ProfileCostModel",
    "ProfileError",
    "ProfileRow",
    "TimingPlan",
    "WallTimer",
    "derive_rows",
    "latency_stats",
    "load_profile",
    "measure",
    "read_profile",
    "resolve_profile",
    "shipped_profiles",
    "write_profile",
]
