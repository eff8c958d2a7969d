# TEMPORARY shim for processes started before the rename (not committed)
from perfgate_lib.local.callgrind_profile import *  # noqa: F403
from perfgate_lib.local.callgrind_profile import folded_stacks  # noqa: F401
